package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/config"
	"github.com/spf13/cobra"
)

// newAuditor builds the consistency auditor of a's cache, logging to log.
// Without Redis it has nothing to walk: its Run returns at once.
func (a *app) newAuditor(log *slog.Logger) (*audit.Auditor, error) {
	var masters audit.Masters
	if a.redis != nil {
		masters = a.redis
	}
	return audit.New(a.cache, masters, a.repo, a.catalog.AuditFamilies(), audit.Options{Rate: a.cfg.Cache.AuditRate, Logger: log})
}

// auditStats returns the auditor's figures, or nil without one.
func (a *app) auditStats() *audit.Stats {
	if a.audit == nil {
		return nil
	}
	s := a.audit.Stats()
	return &s
}

// maxListedFindings bounds the inconsistencies the audit command prints.
const maxListedFindings = 20

func newAuditCmd(e env) *cobra.Command {
	var (
		families []string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check every cached entry against the database and repair the stale ones",
		Long: `audit runs one full pass of the consistency auditor: it walks the cache's
keys with SCAN on every Redis master and checks each one against the
database, as the auditor inside serve does for a sample of the keys
(CACHE_AUDIT_RATE per second). Files are compared by version, searches by
the versions of the files they list, statistics and settings by content.

A mismatch that a write in flight explains (its invalidation is still in
the outbox, or the entry changed while it was checked) is not counted. An
inconsistency is deleted through the normal invalidation path (reason
"audit", announced on the events channel), so that the next read loads the
database's value.

It counts the keys first (a SCAN walk that reads no value), shows progress
on a terminal, then prints a summary: keys checked,
consistent, empty (nothing to compare: a lease, an expired entry),
in flight, inconsistent and repaired, failed, and the first inconsistent
keys with both versions. It exits with status 1 if any check failed. It
needs Redis.`,
		Example: `  # Every cached key of every audited family
  DATABASE_URL=postgres://app@db:5432/files REDIS_URL=redis://127.0.0.1:6379/0 filecache audit

  # The first 10000 cached files only
  REDIS_CLUSTER_NODES=10.0.0.1:7000 filecache audit --family file --limit 10000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.FromFlags(cmd.Flags(), e.lookup)
			if err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (every key) or more", limit)
			}
			if cfg.Redis.Mode == config.RedisNone || cfg.Cache.Disabled {
				return fmt.Errorf("audit needs Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINEL_ADDRS) and the cache on")
			}
			log := newLogger(os.Stderr, max(cfg.LogLevel, slog.LevelWarn))
			a, err := openApp(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			// The findings are printed below; the auditor logs nothing.
			aud, err := a.newAuditor(slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			bar := newProgress(e.stderr, -1, "auditing")
			res, err := aud.Pass(cmd.Context(), audit.PassOptions{
				Families: families,
				Limit:    limit,
				Progress: func(done, found int64) { bar.Set(done, found) },
			})
			bar.Done()
			if err != nil {
				return err
			}
			if err := printPass(e.stdout, res); err != nil {
				return err
			}
			if n := res.Results[audit.Failed.String()]; n > 0 {
				return fmt.Errorf("%d keys could not be checked (store or database errors)", n)
			}
			return nil
		},
	}
	config.Bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&families, "family", nil, "families to check, comma-separated: file, search, stats, settings (default all)")
	cmd.Flags().IntVar(&limit, "limit", 0, "check at most this many keys (0: every key)")
	return cmd
}

// printPass writes the summary of a pass.
func printPass(w io.Writer, res audit.PassResult) error {
	r := res.Results
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d keys in %v: %d consistent, %d empty, %d in flight, %d inconsistent (%d repaired), %d failed\n",
		res.Checked, res.Duration.Round(time.Millisecond), r[audit.Consistent.String()], r[audit.Empty.String()],
		r[audit.InFlight.String()], res.Inconsistent, res.Repaired, r[audit.Failed.String()])
	for i, f := range res.Findings {
		if i == maxListedFindings {
			fmt.Fprintf(&b, "  ... and %d more\n", res.Inconsistent-uint64(i))
			break
		}
		repaired := "repaired"
		if !f.Repaired {
			repaired = "NOT repaired"
		}
		age := "unknown"
		if f.AgeKnown {
			age = f.Age.Round(time.Second).String()
		}
		// A key comes from SCAN: no control character may drive the
		// terminal.
		key := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '?'
			}
			return r
		}, f.Key)
		fmt.Fprintf(&b, "  %s: cached %s, database %s, stale for %s, %s\n", key, f.Cached, f.Database, age, repaired)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
