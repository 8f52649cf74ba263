// Package durfmt formats durations for people: time.Duration.String
// without its zero trailing units ("1h", "30m", "1m30s" rather than
// "1h0m0s", "30m0s"). Its functions are pure and safe for concurrent use.
package durfmt

import (
	"strings"
	"time"
)

// Short formats d without zero trailing units: 15s, 1m, 1m30s, 1h, 1h30m.
func Short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
