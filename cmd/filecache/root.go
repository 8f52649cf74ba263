package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/filecache/filecache/config"
	"github.com/spf13/cobra"
)

// env is what the commands take from the process, injected for tests.
type env struct {
	lookup func(string) (string, bool)
	stdout io.Writer
	stderr io.Writer
}

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// loadConfig builds the configuration of cmd from its flags and the
// environment: the one path from the outside to a config.Config, for every
// command and for the tests.
func loadConfig(cmd *cobra.Command, e env) (config.Config, error) {
	return config.FromFlags(cmd.Flags(), e.lookup)
}

func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "filecache",
		Short: "File-metadata service with a Redis cache in front of SQL",
		Long: `filecache serves file metadata over HTTP from a SQL database (SQLite by
default, PostgreSQL in production) through a Redis cache (standalone, Sentinel
or Cluster), or through an in-process cache when no Redis is configured.

Configuration comes from the environment; flags of the same name in kebab case
win (REDIS_URL or --redis-url). Each command's --help lists its own flags
first, then the settings it shares with the others, by group.`,
		Example: `  # Run on the embedded defaults: SQLite file filecache.db, in-process cache
  filecache serve

  # Run on PostgreSQL and a Redis Cluster
  DATABASE_URL=postgres://app@db:5432/files \
  REDIS_CLUSTER_NODES=10.0.0.1:7000,10.0.0.2:7000 filecache serve`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what the version command prints.
	root.SetVersionTemplate("filecache {{.Version}}\n")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetUsageFunc(writeUsage)
	root.AddCommand(newServeCmd(e), newWarmCmd(e), newBackupCmd(e), newRestoreCmd(e), newEventsCmd(e), newReportCmd(e), newAuditCmd(e), newVersionCmd(e))
	for _, c := range root.Commands() {
		c.Flags().SortFlags = false // --help lists settings in their order, not alphabetically
	}
	return root
}

func newVersionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of filecache",
		Example: "  filecache version\n  filecache --version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(e.stdout, "filecache", buildVersion())
			return err
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}
