// Command filecache is the file-metadata service and its operator commands:
// serve, warm, backup, restore, report, events, version.
//
// Configuration comes from the environment; flags of the same name in kebab
// case win. "filecache <command> --help" lists the command's own flags, then
// the settings it shares with the others, by group.
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
