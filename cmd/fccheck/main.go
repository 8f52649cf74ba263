// Command fccheck checks filecache's consistency guarantees from outside:
// two "filecache serve" instances on one PostgreSQL database and a private
// Redis, writers and readers over HTTP on both, and a fault injected. See
// "fccheck --help" and package internal/consistency.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fccheck:", err)
		if errors.Is(err, errViolations) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}
