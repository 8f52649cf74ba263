package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/filecache/filecache/backup"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/report"
	"github.com/spf13/cobra"
)

func newBackupCmd(e env) *cobra.Command {
	var out, match string
	cmd := &cobra.Command{
		Use:   "backup --out FILE [--match PATTERN]",
		Short: "Save the cached keys and their TTLs to a file",
		Long: `backup saves every cache key (under CACHE_PREFIX) that matches --match, with
its value as DUMP serializes it and its expiry, to one file with a header and a
SHA-256 checksum. In a Cluster it reads every master. It writes FILE.*.tmp and
renames it to FILE when the backup is complete, so FILE never holds a partial
backup. It shows progress on a terminal and prints a summary.

The backup is not a point-in-time snapshot: keys written while it runs may or
may not be in it. "filecache restore" loads it into a Redis of the same or a
newer version.`,
		Example: `  # Back up every cache key of a Redis Cluster
  REDIS_CLUSTER_NODES=10.0.0.1:7000,10.0.0.2:7000 filecache backup --out cache.fcbk

  # Back up only file metadata (keys CACHE_PREFIX + "file:*")
  REDIS_URL=redis://127.0.0.1:6379/0 CACHE_PREFIX=fc: filecache backup --out files.fcbk --match 'file:*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			cfg, store, err := openRedisStore(cmd, e)
			if err != nil {
				return err
			}
			defer store.Close()
			bar := newProgress(e.stderr, -1, "backing up")
			st, err := backup.WriteFile(cmd.Context(), out, store, backup.WriteOptions{
				Prefix:   cfg.Cache.Prefix,
				Match:    match,
				Progress: func(done, total int64) { bar.Set(done, max(done, total)) },
			})
			bar.Done()
			if err != nil {
				return fmt.Errorf("%w; %s was not written", err, out)
			}
			_, err = fmt.Fprintf(e.stdout, "backed up %d keys (%s) from %s Redis to %s in %v; %d vanished during the backup\n",
				st.Records, report.Bytes(st.Bytes), store.Mode(), out, st.Duration.Round(time.Millisecond), st.Vanished)
			return err
		},
	}
	config.Bind(cmd.Flags(), config.GroupRedis)
	cmd.Flags().StringVar(&out, "out", "", "file to write the backup to (required)")
	cmd.Flags().StringVar(&match, "match", "*", "SCAN MATCH glob of the keys to back up, after CACHE_PREFIX")
	return cmd
}
