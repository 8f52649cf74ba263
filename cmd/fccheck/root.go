package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/filecache/filecache/internal/consistency"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/spf13/cobra"
)

// errViolations is returned when a run broke a consistency guarantee
// (exit status 1; other errors exit with 2).
var errViolations = errors.New("consistency violations")

// defaultDatabaseURL is used when neither --database-url nor
// TEST_DATABASE_URL is set.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type flags struct {
	faults      string
	duration    time.Duration
	files       int
	writers     int
	readers     int
	writeEvery  time.Duration
	readEvery   time.Duration
	staleAfter  time.Duration
	settle      time.Duration
	databaseURL string
	binary      string
	keep        bool
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "fccheck",
		Short: "Check filecache's consistency guarantees under Redis faults",
		Long: `fccheck starts, for each fault, two "filecache serve" instances (a and b) on
a fresh schema of one PostgreSQL database and a private redis-server (each
instance reaching it through a TCP proxy of fccheck's own), runs writers and
readers over HTTP on both, injects the fault, and records every write and
read. It then checks that:

  read-your-writes  a read on the instance that acknowledged a write, started
                    after the acknowledgement, returns that version or newer;
  stale-read        no read on another instance started more than
                    --stale-after after an acknowledgement returns an older
                    version;
  backward-read     no reader sees a file's version go backwards;
  fabricated-value  every answer is a version and name some write produced;
  not-converged     after the load both instances answer what the database
                    holds.

It prints a summary per fault and a table, and exits with 1 when a guarantee
was broken, 2 when a run could not be made. The service is built from
./cmd/filecache with "go build" (run fccheck inside the module) unless
--binary is given. Needs redis-server and redis-cli in PATH and a PostgreSQL
database (--database-url; trust auth is fine).

Faults (--fault, comma-separated, or "all"):
` + faultList(),
		Example: `  # Every fault, 20 s of load each
  go run ./cmd/fccheck --fault all --duration 20s

  # The Redis restarts, for a minute each
  go run ./cmd/fccheck --fault kill-restart-aof,kill-restart-empty --duration 60s

  # Steady state against a given binary and database, keeping the logs
  go run ./cmd/fccheck --fault none --binary ./filecache \
    --database-url postgres://postgres@127.0.0.1:5432/test --keep`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.faults, "fault", "all", `faults to inject, comma-separated, or "all"`)
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "load per fault")
	fl.IntVar(&f.files, "files", 0, "files the load works on (default 32)")
	fl.IntVar(&f.writers, "writers", 0, "writers per instance (default 2)")
	fl.IntVar(&f.readers, "readers", 0, "readers per instance (default 4)")
	fl.DurationVar(&f.writeEvery, "write-every", 0, "a writer's pause between writes (default 10ms)")
	fl.DurationVar(&f.readEvery, "read-every", 0, "a reader's pause between reads (default 1ms)")
	fl.DurationVar(&f.staleAfter, "stale-after", consistency.DefaultStaleAfter, "how long another instance may serve an older version after an acknowledgement")
	fl.DurationVar(&f.settle, "settle", 10*time.Second, "how long to wait after the load for the instances to converge")
	fl.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL database in which each run makes a schema of its own (default $TEST_DATABASE_URL, or "+defaultDatabaseURL+")")
	fl.StringVar(&f.binary, "binary", "", "filecache executable (default: go build ./cmd/filecache)")
	fl.BoolVar(&f.keep, "keep", false, "keep the working directory (instance and Redis logs)")
	return cmd
}

func faultList() string {
	var b strings.Builder
	for _, f := range consistency.Faults() {
		fmt.Fprintf(&b, "  %-20s %s\n", f.Name, f.Summary)
	}
	return b.String()
}

// selectFaults parses --fault.
func selectFaults(list string) ([]consistency.Fault, error) {
	if list == "all" {
		return consistency.Faults(), nil
	}
	var faults []consistency.Fault
	for name := range strings.SplitSeq(list, ",") {
		f, ok := consistency.FaultByName(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("--fault: unknown fault %q; the faults are:\n%s", name, faultList())
		}
		faults = append(faults, f)
	}
	return faults, nil
}

func run(cmd *cobra.Command, f flags, stdout, stderr io.Writer) error {
	faults, err := selectFaults(f.faults)
	if err != nil {
		return err
	}
	if f.duration <= 0 || f.staleAfter <= 0 || f.settle <= 0 {
		return errors.New("--duration, --stale-after and --settle must be positive")
	}
	ctx := cmd.Context()
	// internal/sqltest takes its database from the environment, as tests do.
	dbURL := cmp.Or(f.databaseURL, os.Getenv(sqltest.EnvDatabaseURL), defaultDatabaseURL)
	if err := os.Setenv(sqltest.EnvDatabaseURL, dbURL); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "fccheck-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintf(stderr, "fccheck: working directory %s (kept)\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := f.binary
	if bin == "" {
		fmt.Fprintln(stderr, "fccheck: building ./cmd/filecache")
		if bin, err = consistency.Build(ctx, work); err != nil {
			return err
		}
	}

	opts := consistency.Options{
		Binary: bin, Duration: f.duration, Files: f.files, Writers: f.writers, Readers: f.readers,
		WriteEvery: f.writeEvery, ReadEvery: f.readEvery, StaleAfter: f.staleAfter, Settle: f.settle,
	}
	var results []*consistency.Result
	for i, fault := range faults {
		bar := newProgress(stderr, fmt.Sprintf("[%d/%d] %s", i+1, len(faults), fault.Name))
		opts.Progress = bar.update
		var res *consistency.Result
		err := runHarness(ctx, fault.Name, work, func(tb testing.TB) {
			var err error
			if res, err = consistency.Run(tb, fault, opts); err != nil {
				tb.Fatal(err)
			}
		})
		bar.done()
		if res != nil {
			// Run made it; err, if any, is from stopping what it started.
			fmt.Fprintln(stdout, res.Summary())
			results = append(results, res)
		}
		if err != nil {
			return fmt.Errorf("fault %s: %w", fault.Name, err)
		}
	}
	printTable(stdout, results)
	broken := 0
	for _, r := range results {
		if !r.Report.OK() {
			broken++
		}
	}
	if broken > 0 {
		return fmt.Errorf("%w under %d of %d faults", errViolations, broken, len(results))
	}
	return nil
}

// printTable prints one line per fault: the figures the README quotes.
func printTable(w io.Writer, results []*consistency.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\treads\twrites\tstale (ryw/other)\tworst lag\tbackward\tfabricated\tconverged\tlag p50/p99/max")
	for _, r := range results {
		rep := r.Report
		converged := "yes"
		if rep.ByKind[consistency.NotConverged] > 0 {
			converged = fmt.Sprintf("no (%d)", rep.ByKind[consistency.NotConverged])
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d (%d/%d)\t%s\t%d\t%d\t%s\t%s/%s/%s\n",
			r.Fault.Name, rep.Reads, rep.WritesAcked,
			rep.StaleReads(), rep.ByKind[consistency.ReadYourWrites], rep.ByKind[consistency.StaleRead],
			msec(rep.WorstLag()), rep.ByKind[consistency.BackwardRead], rep.ByKind[consistency.FabricatedValue], converged,
			msec(consistency.Percentile(rep.Lag, 50)), msec(consistency.Percentile(rep.Lag, 99)), msec(consistency.Percentile(rep.Lag, 100)))
	}
	tw.Flush()
}

func msec(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
