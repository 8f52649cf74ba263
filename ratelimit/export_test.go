package ratelimit

// Clients returns how many clients l keeps state for, after pending
// evictions.
func Clients(l *Limiter) int {
	l.clients.CleanUp()
	return l.clients.EstimatedSize()
}
