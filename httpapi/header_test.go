package httpapi

import (
	"net/http"
	"slices"
	"testing"

	"github.com/filecache/filecache/cache"
)

// TestHeaderNamesCanonical: the names assigned to the Header map directly
// are the ones Header.Get looks up.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, k := range []string{hdrContentType, hdrContentTypeOptions, hdrContentLength, hdrXCache, hdrRateLimitLimit, hdrRateLimitRemaining, hdrRateLimitReset} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header name %q is not canonical (%q)", k, c)
		}
	}
}

// TestSharedHeaderValues: the values shared by every answer cannot be
// written through by a handler that adds to the header.
func TestSharedHeaderValues(t *testing.T) {
	for o := cache.OriginLoad; o <= cache.OriginStale+1; o++ {
		if got := xCache(o); !slices.Equal(got, []string{o.String()}) {
			t.Errorf("xCache(%v) = %q", o, got)
		}
	}
	h := http.Header{}
	h[hdrContentType] = jsonContentType
	h.Add(hdrContentType, "text/plain")
	if !slices.Equal(jsonContentType, []string{"application/json"}) || cap(jsonContentType) != 1 {
		t.Fatalf("an Add wrote into the shared value: %q", jsonContentType)
	}
}
