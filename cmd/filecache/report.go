package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/report"
	"github.com/spf13/cobra"
)

func newReportCmd(e env) *cobra.Command {
	var (
		asJSON bool
		opts   report.Options
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the cache efficiency report",
		Long: `report connects to the cache like serve does and prints its efficiency:
Redis memory, maxmemory and its policy, evictions and keyspace hit ratio per
node; per key family the key count, the memory (MEMORY USAGE over a sample,
extrapolated) and the distribution of the remaining TTLs; the hottest keys
when Redis runs an LFU policy; and recommendations.

The hit ratio per family and tier counts the lookups of one process: this
command starts a fresh one, so for those ratios ask a serving instance
(GET /admin/cache/report, the same report as JSON). SCAN walks the keyspace
without blocking Redis; MEMORY USAGE and PTTL run on the sample only.`,
		Example: `  # Tables on the terminal
  REDIS_URL=redis://127.0.0.1:6379/0 filecache report

  # JSON, sampling up to 5000 keys per family
  REDIS_CLUSTER_NODES=10.0.0.1:7000 filecache report --json --sample 5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if opts.SampleKeys < 1 || opts.SampleKeys > 1_000_000 {
				return fmt.Errorf("--sample %d: want 1 to 1000000", opts.SampleKeys)
			}
			if opts.TopKeys < 1 || opts.TopKeys > 1000 {
				return fmt.Errorf("--top %d: want 1 to 1000", opts.TopKeys)
			}
			log := newLogger(os.Stderr, max(cfg.LogLevel, slog.LevelWarn))
			a, err := openAppConnected(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			rep, err := a.report(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteText(e.stdout)
		},
	}
	config.Bind(cmd.Flags(), config.GroupDatabase, config.GroupRedis)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&opts.SampleKeys, "sample", report.DefaultSampleKeys, "keys per family sampled with MEMORY USAGE and PTTL")
	cmd.Flags().IntVar(&opts.TopKeys, "top", report.DefaultTopKeys, "how many of the hottest keys to list")
	return cmd
}
