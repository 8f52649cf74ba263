// Command filecache is the file-metadata service and its operator commands:
// serve, warm, version (and, as they land, backup, restore, report, events).
//
// Configuration comes from the environment; flags of the same name in kebab
// case win. Run "filecache --help" for the list.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(env{lookup: os.LookupEnv, stdout: os.Stdout, stderr: os.Stderr}).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "filecache:", err)
		os.Exit(1)
	}
}
