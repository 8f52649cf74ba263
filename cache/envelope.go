package cache

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// A stored value is an envelope: a kind byte, ':', a time in unix
// milliseconds, ':', then the rest. It stays readable with redis-cli
// ("v:1732270000000:{...json...}") and lets a reader tell a value from a
// lease marker or a cached "not found" without decoding the payload.
//
//	v:<expiry>:<payload>          a value, fresh until its logical expiry
//	n:<expiry>:                   a cached "not found" (negative caching)
//	s:<expiry>:<until>:<payload>  a stale value put back after a failed
//	                              refresh, past its logical <expiry>: served
//	                              as stale, without loading, until <until>
//	                              (the fail-safe throttle)
//	l:<expiry>:<token>            a lease held by a loader until <expiry>
//	l:<expiry>:<token>:<inner>    a lease taken over the value <inner> (a v:
//	                              or s: envelope) that readers may serve
//	                              while the refresh runs
const (
	kindValue    = 'v'
	kindNotFound = 'n'
	kindStale    = 's'
	kindLease    = 'l'
)

var errCorrupt = errors.New("cache: corrupt envelope")

type envelope struct {
	kind    byte
	at      time.Time // logical expiry (v, n, s), end of the lease (l)
	until   time.Time // end of the fail-safe throttle (s)
	payload []byte    // the encoded value (v, s)
	token   []byte    // the lease's token (l)
	inner   []byte    // the envelope a lease was taken over, or nil (l)
}

func appendEnvelope(dst []byte, kind byte, at time.Time, payload []byte) []byte {
	dst = append(dst, kind, ':')
	dst = strconv.AppendInt(dst, at.UnixMilli(), 10)
	dst = append(dst, ':')
	return append(dst, payload...)
}

// appendStale appends the envelope of a stale value put back until until.
func appendStale(dst []byte, expiry, until time.Time, payload []byte) []byte {
	dst = append(dst, kindStale, ':')
	dst = strconv.AppendInt(dst, expiry.UnixMilli(), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, until.UnixMilli(), 10)
	dst = append(dst, ':')
	return append(dst, payload...)
}

// leaseMarker returns the marker of a lease with token until expiry, taken
// over inner (nil for none).
func leaseMarker(expiry time.Time, token string, inner []byte) []byte {
	b := make([]byte, 0, 40+len(token)+len(inner))
	b = appendEnvelope(b, kindLease, expiry, []byte(token))
	if inner != nil {
		b = append(append(b, ':'), inner...)
	}
	return b
}

func parseEnvelope(b []byte) (envelope, error) {
	if len(b) < 2 || b[1] != ':' {
		return envelope{}, errCorrupt
	}
	switch b[0] {
	case kindValue, kindNotFound, kindStale, kindLease:
	default:
		return envelope{}, errCorrupt
	}
	at, rest, ok := cutTime(b[2:])
	if !ok {
		return envelope{}, errCorrupt
	}
	env := envelope{kind: b[0], at: at}
	switch env.kind {
	case kindStale:
		if env.until, rest, ok = cutTime(rest); !ok {
			return envelope{}, errCorrupt
		}
		env.payload = rest
	case kindLease:
		token, inner, nested := bytes.Cut(rest, []byte{':'})
		if len(token) == 0 {
			return envelope{}, errCorrupt
		}
		env.token = token
		if nested {
			if len(inner) < 2 || (inner[0] != kindValue && inner[0] != kindStale) || inner[1] != ':' {
				return envelope{}, errCorrupt
			}
			env.inner = inner
		}
	case kindNotFound:
		if len(rest) != 0 {
			return envelope{}, errCorrupt
		}
	default:
		env.payload = rest
	}
	return env, nil
}

// cutTime parses "<unix ms>:" at the start of b and returns the time and the
// rest.
func cutTime(b []byte) (time.Time, []byte, bool) {
	i := bytes.IndexByte(b, ':')
	if i <= 0 || i > 19 {
		return time.Time{}, nil, false
	}
	ms, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, nil, false
	}
	return time.UnixMilli(ms), b[i+1:], true
}
