package defaults_test

import (
	"testing"
	"time"

	"github.com/filecache/filecache/internal/defaults"
)

func TestPositive(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, time.Second},
		{-time.Millisecond, time.Second},
		{time.Millisecond, time.Millisecond},
	} {
		got := tc.in
		defaults.Positive(&got, time.Second)
		if got != tc.want {
			t.Errorf("Positive(%v, 1s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestOrOff(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0.5},
		{-1, 0},
		{0.25, 0.25},
	} {
		got := tc.in
		defaults.OrOff(&got, 0.5)
		if got != tc.want {
			t.Errorf("OrOff(%v, 0.5) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
