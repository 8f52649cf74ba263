package httpapi

import (
	"strconv"

	"github.com/filecache/filecache/cache"
)

// Canonical names of the headers set on most answers. The handlers assign
// them to the Header map directly: on a near hit, Header.Set's copy of a
// key that is not canonical ("RateLimit-Limit") and its one-value slices
// were a measurable part of the handler (BenchmarkCachedGET).
const (
	hdrContentType        = "Content-Type"
	hdrContentTypeOptions = "X-Content-Type-Options"
	hdrContentLength      = "Content-Length"
	hdrXCache             = "X-Cache"
	hdrETag               = "Etag"
	hdrRateLimitLimit     = "Ratelimit-Limit"
	hdrRateLimitRemaining = "Ratelimit-Remaining"
	hdrRateLimitReset     = "Ratelimit-Reset"
)

// Values shared by every answer. Each slice is full (len == cap), so an
// Add to the header allocates a new array instead of writing into it.
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
	xCacheValues    = [...][]string{
		cache.OriginLoad:  {cache.OriginLoad.String()},
		cache.OriginStore: {cache.OriginStore.String()},
		cache.OriginLocal: {cache.OriginLocal.String()},
		cache.OriginStale: {cache.OriginStale.String()},
	}
)

// xCache returns the X-Cache value of origin.
func xCache(o cache.Origin) []string {
	if int(o) < len(xCacheValues) {
		return xCacheValues[o]
	}
	return []string{o.String()}
}

// counts holds the header value of every number below its length, for
// countValue: the RateLimit-* values of each /v1 answer, which were three
// allocations a request (BenchmarkCachedGET). Built once, read only.
var counts = func() [][]string {
	t := make([][]string, 1024)
	for i := range t {
		t[i] = []string{strconv.Itoa(i)}
	}
	return t
}()

// countValue returns the header value of n, a full slice of one string
// that the caller must not modify.
func countValue(n int64) []string {
	if n >= 0 && n < int64(len(counts)) {
		return counts[n]
	}
	return []string{strconv.FormatInt(n, 10)}
}
