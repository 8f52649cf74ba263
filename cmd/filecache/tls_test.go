package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// The TLS servers of scripts/test.sh (see cache/redisstore/tls_test.go).

// TestServeOverTLS runs the service on real TLS redis-servers, configured
// only through the REDIS_TLS_* variables: a file is cached (miss, then
// hit) with server-verified TLS, mutual TLS and a Cluster over TLS.
func TestServeOverTLS(t *testing.T) {
	ca := func(t testing.TB) map[string]string {
		return map[string]string{"REDIS_TLS_CA_FILE": testenv.Require(t, redistest.EnvRedisTLSCAFile)}
	}
	withCert := func(t testing.TB, vars map[string]string) map[string]string {
		vars["REDIS_TLS_CERT_FILE"] = testenv.Require(t, redistest.EnvRedisTLSCertFile)
		vars["REDIS_TLS_KEY_FILE"] = testenv.Require(t, redistest.EnvRedisTLSKeyFile)
		return vars
	}
	for _, b := range []e2eBackend{
		{name: "server verified", wantStore: "redis standalone", redis: func(t testing.TB) map[string]string {
			vars := ca(t)
			vars["REDIS_URL"] = testenv.Require(t, redistest.EnvRedisTLSURL)
			return vars
		}},
		{name: "mutual", wantStore: "redis standalone", redis: func(t testing.TB) map[string]string {
			vars := withCert(t, ca(t))
			vars["REDIS_URL"] = testenv.Require(t, redistest.EnvRedisMTLSURL)
			return vars
		}},
		{name: "cluster", wantStore: "redis cluster", redis: func(t testing.TB) map[string]string {
			// rediss:// in the list turns TLS on; the client certificate
			// in case the nodes ask for one.
			vars := withCert(t, ca(t))
			var nodes []string
			for _, n := range testenv.RequireList(t, redistest.EnvRedisTLSClusterNodes) {
				nodes = append(nodes, "rediss://"+n)
			}
			vars["REDIS_CLUSTER_NODES"] = strings.Join(nodes, ",")
			return vars
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			b.dsn = sqltest.SQLiteDSN
			s := startE2EServer(t, b, nil)
			if tc := s.app.cfg.Redis.Options.TLS; tc == nil || tc.RootCAs == nil {
				t.Fatal("the configuration holds no TLS with the test CA")
			}
			f := s.create(t, files.NewFile{Name: "tls.txt"})
			_, r := s.get(t, f.ID)
			wantCache(t, r, "miss")
			_, r = s.get(t, f.ID)
			wantCache(t, r, "hit", "hit-local")
			testHealth(t, s, b)
		})
	}
}

// TestServeTLSPrivateCA checks that a server whose certificate a private CA
// signs is refused when REDIS_TLS_CA_FILE is not given, at start-up, with
// an error that says why and what to set.
func TestServeTLSPrivateCA(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL":       sqltest.SQLiteDSN(t),
		"REDIS_URL":          testenv.Require(t, redistest.EnvRedisTLSURL),
		"REDIS_DIAL_TIMEOUT": "2s",
	})
	a, err := openApp(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		a.Close()
		t.Fatal("serve started against a private CA it was not given")
	}
	if !errors.Is(err, redisstore.ErrTLS) {
		t.Errorf("error %q does not wrap redisstore.ErrTLS", err)
	}
	for _, want := range []string{"REDIS_URL", "authority", "REDIS_TLS_CA_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestMTLSWithoutClientCertificate checks what an operator sees who forgot
// the client certificate of a server that asks for one: with TLS 1.3 the
// server resets the connection after the handshake, and the error points
// at REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE.
func TestMTLSWithoutClientCertificate(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL":       sqltest.SQLiteDSN(t),
		"REDIS_URL":          testenv.Require(t, redistest.EnvRedisMTLSURL),
		"REDIS_TLS_CA_FILE":  testenv.Require(t, redistest.EnvRedisTLSCAFile),
		"REDIS_DIAL_TIMEOUT": "2s",
	})
	a, err := openAppConnected(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		a.Close()
		t.Fatal("connected without the client certificate the server asks for")
	}
	if !strings.Contains(err.Error(), "REDIS_TLS_CERT_FILE") {
		t.Errorf("error %q does not point at REDIS_TLS_CERT_FILE", err)
	}
}
