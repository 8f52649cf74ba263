package redisstore_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// testTLS returns a TLS configuration that trusts the test CA, with the
// client certificate when withCert.
func testTLS(t *testing.T, withCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(testenv.Require(t, redistest.EnvRedisTLSCAFile))
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", redistest.EnvRedisTLSCAFile)
	}
	if withCert {
		cert, err := tls.LoadX509KeyPair(testenv.Require(t, redistest.EnvRedisTLSCertFile), testenv.Require(t, redistest.EnvRedisTLSKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

// tlsOptions parses the rediss:// URL of env with tlsConf.
func tlsOptions(t *testing.T, env string, tlsConf *tls.Config) redisstore.Options {
	t.Helper()
	opts, err := redisstore.ParseURL(testenv.Require(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS == nil {
		t.Fatalf("%s is not a rediss:// URL", env)
	}
	opts.TLS = tlsConf
	return opts
}

// roundTrip checks that s stores and reads a value.
func roundTrip(t *testing.T, s *redisstore.Store) {
	t.Helper()
	key := "tls:" + t.Name()
	if err := s.Set(t.Context(), key, []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, err := s.Get(t.Context(), key); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := s.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
}

// mustDial connects with opts, failing the test on an error; the store is
// closed when the test and its subtests are done.
func mustDial(t *testing.T, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Dial(t.Context(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dialFails connects with opts and returns the error, failing the test
// with msg if Dial succeeds.
func dialFails(t *testing.T, opts redisstore.Options, msg string) error {
	t.Helper()
	s, err := redisstore.Dial(t.Context(), opts)
	if err == nil {
		s.Close()
		t.Fatal(msg)
	}
	return err
}

// TestTLS connects to real TLS servers: server-verified, mutual, Cluster,
// and the failures an operator meets (a private CA not given, no client
// certificate where the server asks for one).
func TestTLS(t *testing.T) {
	t.Run("server verified", func(t *testing.T) {
		roundTrip(t, mustDial(t, tlsOptions(t, redistest.EnvRedisTLSURL, testTLS(t, false))))
	})
	t.Run("private CA not given", func(t *testing.T) {
		opts := tlsOptions(t, redistest.EnvRedisTLSURL, &tls.Config{MinVersion: tls.VersionTLS12}) // the system's roots only
		opts.DialTimeout = 2 * time.Second
		err := dialFails(t, opts, "Dial trusted a certificate of a private CA without it")
		if !errors.Is(err, redisstore.ErrTLS) || !strings.Contains(err.Error(), "authority") {
			t.Errorf("Dial: %v; want ErrTLS naming the unknown authority", err)
		}
	})
	t.Run("server name mismatch", func(t *testing.T) {
		c := testTLS(t, false)
		c.ServerName = "not-the-server.example"
		err := dialFails(t, tlsOptions(t, redistest.EnvRedisTLSURL, c), "Dial accepted a certificate for another name")
		if !errors.Is(err, redisstore.ErrTLS) {
			t.Errorf("Dial: %v; want ErrTLS", err)
		}
	})
	t.Run("mutual", func(t *testing.T) {
		roundTrip(t, mustDial(t, tlsOptions(t, redistest.EnvRedisMTLSURL, testTLS(t, true))))
	})
	t.Run("mutual without a client certificate", func(t *testing.T) {
		opts := tlsOptions(t, redistest.EnvRedisMTLSURL, testTLS(t, false))
		opts.DialTimeout = 2 * time.Second
		err := dialFails(t, opts, "Dial connected without the client certificate the server asks for")
		// With TLS 1.3 the server refuses the missing certificate after
		// the handshake: the client sees its connection reset, so this is
		// not told apart from a network failure (cmd/filecache adds a hint).
		t.Logf("Dial without a client certificate: %v", err)
	})
	t.Run("cluster", func(t *testing.T) {
		// With the client certificate in case the nodes ask for one.
		s := mustDial(t, redisstore.Options{ // closed after the parallel conformance tests
			Addrs: testenv.RequireList(t, redistest.EnvRedisTLSClusterNodes),
			TLS:   testTLS(t, true),
		})
		if got := s.Mode(); got != "cluster" {
			t.Fatalf("Mode() = %q, want cluster", got)
		}
		masters, err := s.Masters(t.Context())
		if err != nil || len(masters) < 3 {
			t.Fatalf("Masters: %d, %v; want the 3 masters, reached over TLS", len(masters), err)
		}
		cachetest.Run(t, func(t *testing.T) cachetest.Store { return s })
	})
}
