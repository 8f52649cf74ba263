package redistest

import (
	"errors"
	"fmt"
	"time"
)

// pollInterval is how long poll waits between checks.
const pollInterval = 50 * time.Millisecond

// errExited tells poll that the process it waits for has exited, so
// waiting longer is pointless.
var errExited = errors.New("process exited")

// poll calls check every pollInterval until it returns nil, and returns
// check's last error once timeout has passed or at once if it is errExited.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
