package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/spf13/cobra"
)

func newWarmCmd(e env) *cobra.Command {
	var (
		limit int
		rate  float64
	)
	cmd := &cobra.Command{
		Use:   "warm",
		Short: "Load the most downloaded files into the cache",
		Long: `warm loads the metadata of the most downloaded files into the cache (the
record and its info and meta views), page by page of the ranking, through the
same leases as a read, so it never stores a value that a concurrent write
replaced. --rate bounds the database loads per second. It shows progress on a
terminal and prints a summary.`,
		Example: `  # Warm the 1000 most popular files in the Redis of REDIS_URL
  REDIS_URL=redis://127.0.0.1:6379/0 filecache warm --limit 1000

  # Warm 100,000 files, at most 2000 database loads a second
  REDIS_URL=redis://127.0.0.1:6379/0 filecache warm --limit 100000 --rate 2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if limit < 1 || limit > catalog.MaxWarmLimit {
				return fmt.Errorf("--limit %d: want 1 to %d", limit, catalog.MaxWarmLimit)
			}
			if !(rate >= 0) {
				return fmt.Errorf("--rate %v: want 0 (no bound) or more loads per second", rate)
			}
			log := newLogger(os.Stderr, max(cfg.LogLevel, slog.LevelWarn))
			a, err := openAppConnected(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			bar := newProgress(e.stderr, int64(limit), "warming")
			res, err := a.catalog.Warm(cmd.Context(), catalog.WarmOptions{
				Limit: limit, Rate: rate,
				Progress: func(done catalog.WarmResult, total int) { bar.Set(int64(done.Files), int64(total)) },
			})
			bar.Done()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "warmed %d files: %d loaded, %d already cached, in %v\n",
				res.Files, res.Loaded, res.Cached, res.Duration.Round(1e6))
			return err
		},
	}
	config.Bind(cmd.Flags(), config.GroupCache, config.GroupDatabase, config.GroupRedis)
	cmd.Flags().IntVar(&limit, "limit", 100, "how many of the most downloaded files to warm")
	cmd.Flags().Float64Var(&rate, "rate", catalog.DefaultWarmRate, "the most database loads per second, 0 for no bound")
	return cmd
}
