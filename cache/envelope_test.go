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
		{"lease", leaseMarker("tok"), kindLease, "tok"},
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
			if tt.kind != kindLease && !env.expiry.Equal(exp) {
				t.Fatalf("expiry = %v, want %v", env.expiry, exp)
			}
		})
	}
	for _, bad := range []string{"", "v", "v:", "v::x", "v:-1:x", "v:abc:x", "x:1:x", "v:99999999999999999999:x", "{}"} {
		if _, err := parseEnvelope([]byte(bad)); err == nil {
			t.Errorf("parse %q succeeded, want errCorrupt", bad)
		}
	}
}

// FuzzEnvelope checks that any bytes parse or fail without panicking, and
// that what is written is read back.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`v:1732270000000:{"id":"x"}`), int64(1732270000000), []byte("{}"))
	f.Add([]byte("l:token"), int64(0), []byte(""))
	f.Add([]byte("n:5:"), int64(5), []byte(nil))
	f.Fuzz(func(t *testing.T, raw []byte, ms int64, payload []byte) {
		_, _ = parseEnvelope(raw)
		if ms < 0 {
			return
		}
		env, err := parseEnvelope(appendEnvelope(nil, kindValue, time.UnixMilli(ms), payload))
		if err != nil || env.kind != kindValue || !bytes.Equal(env.payload, payload) || env.expiry.UnixMilli() != ms {
			t.Fatalf("round trip of %d %q: %+v, %v", ms, payload, env, err)
		}
	})
}
