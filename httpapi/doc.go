// Package httpapi is the HTTP layer of the filecache service: the routes of
// API.md on the standard library's router, their request parsing and
// validation, one JSON error path, and the middleware every request passes
// through (panic recovery, request logging, client IP resolution, per-IP
// rate limiting and session tracking). Rate limits and sessions key a
// client by its address, or by its /64 for IPv6 (Options.IPv6PrefixBits);
// failed admin authentications are limited per client
// (Options.AdminFailureLimit).
//
// The package declares the small interfaces it consumes (Catalog, Admin,
// Health, Limiter); the service wires concrete implementations in:
//
//	h, err := httpapi.New(httpapi.Deps{
//		Catalog: catalog,
//		Admin:   catalog,
//		Health:  catalog,
//		Limiter: limiter, // nil: no rate limit
//		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
//		Logger:  logger,
//	}, httpapi.Options{AdminToken: token, TrustedProxies: proxies})
//	srv := &http.Server{Addr: ":8080", Handler: h}
//
// Every error is answered as {"error": {"code": "...", "message": "..."}}
// with its status; bad input is always a 4xx, and a 500 means a fault of the
// service (its message never carries internals). A panic in a handler is
// recovered, logged with its stack and answered 500.
//
// The handler returned by New is safe for concurrent use.
package httpapi
