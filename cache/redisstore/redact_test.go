package redisstore_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/filecache/filecache/cache/redisstore"
)

// TestOptionsRedacted checks that printing Options, by any means, never
// shows the password or what a TLS configuration holds.
func TestOptionsRedacted(t *testing.T) {
	const pw = "hunter2-Passw0rd"
	o := redisstore.Options{
		Addrs: []string{"cache:6380"}, Username: "app", Password: pw,
		TLS: &tls.Config{ServerName: "cache.internal", Certificates: []tls.Certificate{{PrivateKey: pw}}},
	}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&out, verb+"\n", o)
		fmt.Fprintf(&out, verb+"\n", &o)
		fmt.Fprintf(&out, verb+"\n", struct{ R redisstore.Options }{o})
	}
	js, err := json.Marshal(struct{ R redisstore.Options }{o})
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "redis", o)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "redis", o)
	out.WriteString(logs.String())
	got := out.String()
	if strings.Contains(got, pw) || strings.Contains(got, fmt.Sprintf("%x", pw)) {
		t.Fatalf("the password shows:\n%s", got)
	}
	for _, want := range []string{"[redacted]", "cache:6380", "cache.internal", `"tls_client_cert":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
