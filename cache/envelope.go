package cache

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// A stored value is an envelope: a kind byte, ':', the logical expiry in unix
// milliseconds, ':', then the payload. It stays readable with redis-cli
// ("v:1732270000000:{...json...}") and lets a reader tell a value from a lease
// marker or a cached "not found" without decoding the payload.
//
//	v:<expiry>:<payload>   a value
//	n:<expiry>:            a cached "not found" (negative caching)
//	l:<token>              a lease held by a loader
const (
	kindValue    = 'v'
	kindNotFound = 'n'
	kindLease    = 'l'
)

var errCorrupt = errors.New("cache: corrupt envelope")

type envelope struct {
	kind    byte
	expiry  time.Time // logical expiry; zero for a lease
	payload []byte    // the encoded value, or the lease token
}

func appendEnvelope(dst []byte, kind byte, expiry time.Time, payload []byte) []byte {
	dst = append(dst, kind, ':')
	dst = strconv.AppendInt(dst, expiry.UnixMilli(), 10)
	dst = append(dst, ':')
	return append(dst, payload...)
}

func leaseMarker(token string) []byte {
	return append([]byte{kindLease, ':'}, token...)
}

func parseEnvelope(b []byte) (envelope, error) {
	if len(b) < 2 || b[1] != ':' {
		return envelope{}, errCorrupt
	}
	switch b[0] {
	case kindLease:
		return envelope{kind: kindLease, payload: b[2:]}, nil
	case kindValue, kindNotFound:
	default:
		return envelope{}, errCorrupt
	}
	rest := b[2:]
	i := bytes.IndexByte(rest, ':')
	if i <= 0 || i > 19 {
		return envelope{}, errCorrupt
	}
	ms, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil || ms < 0 {
		return envelope{}, errCorrupt
	}
	return envelope{kind: b[0], expiry: time.UnixMilli(ms), payload: rest[i+1:]}, nil
}
