package outbox

// Running reports whether Run is running, for tests that need the relay's
// own marking rather than a writer's.
func (r *Relay) Running() bool { return r.running.Load() }
