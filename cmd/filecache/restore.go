package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/filecache/filecache/backup"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/report"
	"github.com/spf13/cobra"
)

func newRestoreCmd(e env) *cobra.Command {
	var (
		in             string
		replace, check bool
	)
	cmd := &cobra.Command{
		Use:   "restore --in FILE [--replace]",
		Short: "Load a backup made by \"filecache backup\" into Redis",
		Long: `restore first reads the whole backup and checks its format and SHA-256
checksum; a truncated or corrupt file is refused before anything is written.
Then it restores every key with the TTL it had left, counted from the backup:
keys that expired since are skipped, and keys that exist are left as they are
unless --replace is given. It works into a standalone Redis, Sentinel or a
Cluster, of the same or a newer Redis version than the backup's. It shows
progress on a terminal and prints what it restored and skipped.

With --check it only verifies the file and prints its header, without Redis.`,
		Example: `  # Check a backup file
  filecache restore --in cache.fcbk --check

  # Restore into a standalone Redis, overwriting keys that exist
  REDIS_URL=redis://127.0.0.1:6379/0 filecache restore --in cache.fcbk --replace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return errors.New("--in FILE is required")
			}
			if check {
				return checkBackup(e, in)
			}
			_, store, err := openRedisStore(cmd, e)
			if err != nil {
				return err
			}
			defer store.Close()
			bar := newProgress(e.stderr, -1, "restoring")
			st, err := backup.RestoreFile(cmd.Context(), in, store, backup.RestoreOptions{
				Replace:  replace,
				Progress: func(done, total int64) { bar.Set(done, total) },
			})
			bar.Done()
			if err != nil {
				err = fmt.Errorf("restore %s: %w", in, err)
			}
			if st.Records > 0 {
				if _, werr := fmt.Fprintf(e.stdout, "restored %d of %d keys into %s Redis in %v: %d expired since the backup, %d existed%s, %d failed\n",
					st.Restored, st.Records, store.Mode(), st.Duration.Round(time.Millisecond),
					st.Expired, st.Existing, existedHint(st, replace), st.Failed); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	config.Bind(cmd.Flags(), config.GroupRedis)
	cmd.Flags().StringVar(&in, "in", "", "backup file to restore (required)")
	cmd.Flags().BoolVar(&replace, "replace", false, "overwrite keys that exist")
	cmd.Flags().BoolVar(&check, "check", false, "only verify the file and print its header; needs no Redis")
	return cmd
}

func existedHint(st backup.Stats, replace bool) string {
	if st.Existing > 0 && !replace {
		return " (kept; --replace overwrites them)"
	}
	return ""
}

// checkBackup verifies the backup at path and describes it.
func checkBackup(e env, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h, st, err := backup.Verify(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = fmt.Fprintf(e.stdout, "%s: ok, format %d, %d keys (%s), taken %s from %s Redis %s, pattern %q\n",
		path, h.Version, st.Records, report.Bytes(st.Bytes), h.Created.UTC().Format(time.RFC3339), h.Mode, h.RedisVersion, h.Pattern)
	return err
}
