package httpapi

import "github.com/filecache/filecache/cache"

// Canonical names of the headers set on every answer. The handlers assign
// them to the Header map directly: on a near hit, Header.Set's copy of a
// key that is not canonical ("RateLimit-Limit") and its one-value slices
// were a measurable part of the handler (BenchmarkCachedGET).
const (
	hdrContentType        = "Content-Type"
	hdrContentTypeOptions = "X-Content-Type-Options"
	hdrContentLength      = "Content-Length"
	hdrXCache             = "X-Cache"
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
