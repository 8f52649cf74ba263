package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/config"
)

// writePair writes a self-signed certificate and its key as PEM files in
// dir and returns their paths and the key's PEM.
func writePair(t *testing.T, dir, name string) (certFile, keyFile, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, keyPEM
}

// TestLoadTLSFiles checks that the REDIS_TLS_* files become the TLS
// configuration of the Redis options, and that files that do not load are
// reported by variable, without their content.
func TestLoadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	caFile, _, _ := writePair(t, dir, "ca")
	certFile, keyFile, keyPEM := writePair(t, dir, "client")
	_, otherKey, _ := writePair(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(nil, env(map[string]string{
		"REDIS_CLUSTER_NODES":   "n1:7000,n2:7000",
		"REDIS_TLS":             "true",
		"REDIS_TLS_CA_FILE":     caFile,
		"REDIS_TLS_CERT_FILE":   certFile,
		"REDIS_TLS_KEY_FILE":    keyFile,
		"REDIS_TLS_SERVER_NAME": "redis.internal",
	}))
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Redis.Options.TLS
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "redis.internal" || tc.InsecureSkipVerify {
		t.Fatalf("TLS = %+v; want the CA, the client certificate and the server name", tc)
	}

	for _, tt := range []struct {
		env      map[string]string
		wantVars []string
		wantText string
	}{
		{map[string]string{"REDIS_TLS_CA_FILE": garbage}, []string{"REDIS_TLS_CA_FILE"}, "holds no PEM certificate"},
		{map[string]string{"REDIS_TLS_CERT_FILE": certFile, "REDIS_TLS_KEY_FILE": otherKey}, []string{"REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE"}, "private key does not match"},
		{map[string]string{"REDIS_TLS_CERT_FILE": keyFile, "REDIS_TLS_KEY_FILE": certFile}, []string{"REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE"}, ""},
	} {
		e := map[string]string{"REDIS_URL": "rediss://h:1"}
		for k, v := range tt.env {
			e[k] = v
		}
		_, err := config.Load(nil, env(e))
		if got := varsOf(t, err); strings.Join(got, "|") != strings.Join(tt.wantVars, "|") {
			t.Errorf("%v: error vars %q, want %q (%v)", tt.env, got, tt.wantVars, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("%v: %v; want %q", tt.env, err, tt.wantText)
		}
		if body := strings.Split(keyPEM, "\n")[1]; strings.Contains(err.Error(), body) {
			t.Errorf("%v: the error shows the private key: %v", tt.env, err)
		}
	}
}
