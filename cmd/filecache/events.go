package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/config"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newEventsCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the live stream of cache invalidations",
		Long: `events subscribes to the invalidation events that every filecache instance
publishes on the Redis Pub/Sub channel <CACHE_PREFIX>filecache:invalidations
and prints them until interrupted: one line per invalidation on a terminal,
one JSON object per line with --json or when the output is not a terminal.`,
		Example: `  # Watch invalidations of the cache in the Redis of REDIS_URL
  REDIS_URL=redis://127.0.0.1:6379/0 filecache events

  # Keep only the writes of one file
  filecache events --json | grep 0190a3c4-7d2e-7c4b-9a2f-3b6f0e1d2c3b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := openRedisStore(cmd, e)
			if err != nil {
				return err
			}
			defer store.Close()
			c, err := cache.New(store, cache.Options{Prefix: cfg.Cache.Prefix})
			if err != nil {
				return err
			}
			if !asJSON {
				f, ok := e.stdout.(*os.File)
				asJSON = !ok || !term.IsTerminal(int(f.Fd()))
			}
			log := newLogger(os.Stderr, max(cfg.LogLevel, slog.LevelInfo))
			return watchEvents(cmd.Context(), c, e.stdout, asJSON, log)
		},
	}
	config.Bind(cmd.Flags(), config.GroupRedis)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event")
	return cmd
}

// watchEvents prints events until ctx ends, subscribing again after a lost
// connection.
func watchEvents(ctx context.Context, c *cache.Cache, w io.Writer, asJSON bool, log *slog.Logger) error {
	enc := json.NewEncoder(w)
	print := func(ev cache.Event) {
		if asJSON {
			_ = enc.Encode(ev)
			return
		}
		var what []string
		if len(ev.Keys) > 0 {
			what = append(what, "keys="+strings.Join(ev.Keys, ","))
		}
		if len(ev.Tags) > 0 {
			what = append(what, "tags="+strings.Join(ev.Tags, ","))
		}
		if ev.Pattern != "" {
			what = append(what, "pattern="+ev.Pattern)
		}
		fmt.Fprintf(w, "%s %-6s %-24s deleted=%d %s\n", ev.Time.Local().Format("15:04:05.000"),
			ev.Reason, ev.Origin, ev.Deleted, strings.Join(what, " "))
	}
	backoff := 100 * time.Millisecond
	for {
		err := c.Events(ctx, print)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("event subscription lost; subscribing again", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
