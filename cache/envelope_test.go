package cache

import (
	"bytes"
	"testing"
	"time"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	exp := time.UnixMilli(1732270000123)
	tests := []struct {
		name    string
		raw     []byte
		kind    byte
		payload string
	}{
		{"value", appendEnvelope(nil, kindValue, exp, []byte(`{"a":1}`)), kindValue, `{"a":1}`},
		{"value with colons", appendEnvelope(nil, kindValue, exp, []byte(`a:b:c`)), kindValue, "a:b:c"},
		{"not found", appendEnvelope(nil, kindNotFound, exp, nil), kindNotFound, ""},
		{"stale", appendStale(nil, exp, exp.Add(time.Second), []byte(`{"a":1}`)), kindStale, `{"a":1}`},
		{"lease", leaseMarker(exp, "tok", nil), kindLease, ""},
		{"lease over a value", leaseMarker(exp, "tok", appendEnvelope(nil, kindValue, exp, []byte("x:y"))), kindLease, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := parseEnvelope(tt.raw)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.raw, err)
			}
			if env.kind != tt.kind || string(env.payload) != tt.payload {
				t.Fatalf("parse %q = %c %q", tt.raw, env.kind, env.payload)
			}
			if !env.at.Equal(exp) {
				t.Fatalf("time = %v, want %v", env.at, exp)
			}
			switch tt.kind {
			case kindStale:
				if !env.until.Equal(exp.Add(time.Second)) {
					t.Fatalf("until = %v", env.until)
				}
			case kindLease:
				if string(env.token) != "tok" {
					t.Fatalf("token = %q", env.token)
				}
				if tt.name == "lease over a value" && string(env.inner) != "v:1732270000123:x:y" {
					t.Fatalf("inner = %q", env.inner)
				}
			}
		})
	}
	for _, bad := range []string{"", "v", "v:", "v::x", "v:-1:x", "v:abc:x", "x:1:x", "v:99999999999999999999:x", "{}",
		"l:tok", "l:1:", "l:1:tok:x:1:y", "l:1:tok:n:1:", "n:1:payload", "s:1:x", "s:1::x"} {
		if _, err := parseEnvelope([]byte(bad)); err == nil {
			t.Errorf("parse %q succeeded, want errCorrupt", bad)
		}
	}
}

// FuzzEnvelope checks that any bytes parse or fail without panicking, and
// that what is written is read back.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`v:1732270000000:{"id":"x"}`), int64(1732270000000), []byte("{}"))
	f.Add([]byte("l:1732270000000:token"), int64(0), []byte(""))
	f.Add([]byte(`l:1732270000000:token:v:1:{"id":"x"}`), int64(0), []byte(""))
	f.Add([]byte(`s:1:2:{"id":"x"}`), int64(1), []byte("{}"))
	f.Add([]byte("n:5:"), int64(5), []byte(nil))
	f.Fuzz(func(t *testing.T, raw []byte, ms int64, payload []byte) {
		_, _ = parseEnvelope(raw)
		if ms < 0 {
			return
		}
		env, err := parseEnvelope(appendEnvelope(nil, kindValue, time.UnixMilli(ms), payload))
		if err != nil || env.kind != kindValue || !bytes.Equal(env.payload, payload) || env.at.UnixMilli() != ms {
			t.Fatalf("round trip of %d %q: %+v, %v", ms, payload, env, err)
		}
	})
}
