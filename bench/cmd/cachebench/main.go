// Command cachebench runs filecache and its peers through the same
// scenarios, side by side, and prints one table: near hit, Redis hit, miss
// and load, batch get, a read/write mix with invalidation, and a cold-key
// stampede. See bench/README.md.
//
//	cd bench && go run ./cmd/cachebench --start-redis --duration 3s
//	cd bench && go run ./cmd/cachebench --redis 127.0.0.1:6380 \
//		--postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --markdown
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// config is what the flags say.
type config struct {
	redis           string
	startRedis      bool
	postgres        string
	duration        time.Duration
	warmup          time.Duration
	concurrency     int
	keys            int
	batch           int
	stampedeReaders int
	stampedeRounds  int
	stampedeLoad    time.Duration
	scenarios       map[string]bool // nil: all
	json, markdown  bool
	cpuprofile      string
	memprofile      string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "cachebench:", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var scen string
	fs := flag.NewFlagSet("cachebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.redis, "redis", "", "Redis address host:port (loopback); required unless --start-redis")
	fs.BoolVar(&c.startRedis, "start-redis", false, "start a private redis-server on a free loopback port for the run, and stop it after")
	fs.StringVar(&c.postgres, "postgres", "", "PostgreSQL URL; a fresh schema is created in it and dropped after (empty: no PostgreSQL rows)")
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "measured time of each row")
	fs.DurationVar(&c.warmup, "warmup", 0, "unmeasured time before each row (default: duration/3, at most 1s)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent callers")
	fs.IntVar(&c.keys, "keys", 1000, "distinct keys (and database rows)")
	fs.IntVar(&c.batch, "batch", 100, "keys per batch get")
	fs.IntVar(&c.stampedeReaders, "stampede-readers", 1000, "concurrent readers of one cold key in the stampede scenario")
	fs.IntVar(&c.stampedeRounds, "stampede-rounds", 5, "cold keys (rounds) per stampede row")
	fs.DurationVar(&c.stampedeLoad, "stampede-load", 5*time.Millisecond, "how long the stampede's loader takes before it reads the row")
	fs.StringVar(&scen, "scenarios", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames, ",")+" (default: all)")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&c.markdown, "markdown", false, "print a Markdown table (README-ready)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&c.memprofile, "memprofile", "", "write an allocation profile of the whole run to this file at its end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.redis == "" && !c.startRedis:
		return c, errors.New("--redis ADDR or --start-redis is required")
	case c.redis != "" && c.startRedis:
		return c, errors.New("--redis and --start-redis exclude each other")
	case c.json && c.markdown:
		return c, errors.New("--json and --markdown exclude each other")
	case c.duration <= 0 || c.concurrency < 1 || c.keys < 1 || c.batch < 1 || c.stampedeReaders < 2 || c.stampedeRounds < 1:
		return c, errors.New("--duration, --concurrency, --keys, --batch and --stampede-rounds must be positive, --stampede-readers at least 2")
	case c.batch > c.keys:
		return c, errors.New("--batch must not exceed --keys")
	case c.stampedeRounds > c.keys:
		return c, errors.New("--stampede-rounds must not exceed --keys")
	}
	if c.warmup <= 0 {
		c.warmup = min(c.duration/3, time.Second).Round(time.Millisecond)
	}
	if scen != "" {
		c.scenarios = map[string]bool{}
		for s := range strings.SplitSeq(scen, ",") {
			s = strings.TrimSpace(s)
			if !isScenario(s) {
				return c, fmt.Errorf("unknown scenario %q; want one of %s", s, strings.Join(scenarioNames, ","))
			}
			c.scenarios[s] = true
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	e, err := setup(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer e.close(stderr)
	rep, err := runAll(ctx, e, stderr)
	if err != nil {
		return err
	}
	if cfg.memprofile != "" {
		if err := writeAllocs(cfg.memprofile); err != nil {
			return err
		}
	}
	switch {
	case cfg.json:
		return rep.writeJSON(stdout)
	case cfg.markdown:
		return rep.writeMarkdown(stdout)
	}
	return rep.writeText(stdout)
}

// writeAllocs writes the allocs profile (every allocation since the start,
// sampled) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
