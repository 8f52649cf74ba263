package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"
)

// meta describes the run, so that a table can be read later.
type meta struct {
	Time        time.Time `json:"time"`
	GoVersion   string    `json:"go_version"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	NumCPU      int       `json:"num_cpu"`
	Redis       string    `json:"redis_version"`
	Concurrency int       `json:"concurrency"`
	Duration    string    `json:"duration"`
	Warmup      string    `json:"warmup"`
	Keys        int       `json:"keys"`
	Postgres    bool      `json:"postgres"`
}

func newMeta(ctx context.Context, cfg config, c rueidis.Client) meta {
	m := meta{
		Time:        time.Now().UTC().Truncate(time.Second),
		GoVersion:   runtime.Version(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		NumCPU:      runtime.NumCPU(),
		Concurrency: cfg.concurrency,
		Duration:    cfg.duration.String(),
		Warmup:      cfg.warmup.String(),
		Keys:        cfg.keys,
		Postgres:    cfg.postgres != "",
	}
	if info, err := c.Do(ctx, c.B().Info().Section("server").Build()).ToString(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	return m
}

// result is one row of the table.
type result struct {
	Scenario    string  `json:"scenario"`
	Library     string  `json:"library"`
	Ref         bool    `json:"reference"`
	Ops         int64   `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50         int64   `json:"p50_ns"`
	P99         int64   `json:"p99_ns"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// CPUPerOp is µs of this process' CPU per op: the library's client
	// side and, for SQLite, the database; not Redis' or PostgreSQL's.
	CPUPerOp float64 `json:"cpu_us_per_op"`
	// CmdsPerOp is Redis commands per op (every client of the server
	// counted: exact only on a private server); -1 when not counted.
	CmdsPerOp float64 `json:"redis_cmds_per_op"`
	// Ratio is OpsPerSec over the reference row's of the same scenario,
	// from the same run; 0 when there is none.
	Ratio  float64 `json:"ratio_vs_reference"`
	Errors int64   `json:"errors"`
	Notes  string  `json:"notes,omitempty"`
}

func newResult(scenario, library string, ref bool, m measurement) result {
	return result{
		Scenario:    scenario,
		Library:     library,
		Ref:         ref,
		Ops:         m.ops,
		OpsPerSec:   m.opsPerSec(),
		P50:         int64(m.p50),
		P99:         int64(m.p99),
		AllocsPerOp: m.allocs,
		CPUPerOp:    m.cpu,
		CmdsPerOp:   m.cmds,
		Errors:      m.errs,
	}
}

// withRatios fills the ratio of every row of one scenario against its
// reference row.
func withRatios(rs []result) []result {
	var ref float64
	for _, r := range rs {
		if r.Ref {
			ref = r.OpsPerSec
		}
	}
	for i := range rs {
		if ref > 0 && rs[i].Ops > 0 {
			rs[i].Ratio = rs[i].OpsPerSec / ref
		}
	}
	return rs
}

// report is the outcome of a run.
type report struct {
	Meta    meta     `json:"meta"`
	Results []result `json:"results"`
}

var header = []string{"scenario", "library", "ops/s", "p50", "p99", "allocs/op", "cpu µs/op", "redis cmds/op", "vs ref", "notes"}

func (r *report) cells() [][]string {
	out := make([][]string, 0, len(r.Results))
	for _, x := range r.Results {
		ratio := "-"
		switch {
		case x.Ref:
			ratio = "1.00x (ref)"
		case x.Ratio > 0:
			ratio = fmt.Sprintf("%.2fx", x.Ratio)
		}
		ops, p50, p99, allocs, cpu, cmds := "-", "-", "-", "-", "-", "-"
		if x.Ops > 0 {
			ops = fmtOps(x.OpsPerSec)
			p50, p99 = fmtDur(time.Duration(x.P50)), fmtDur(time.Duration(x.P99))
			allocs = fmt.Sprintf("%.1f", x.AllocsPerOp)
			cpu = fmt.Sprintf("%.1f", x.CPUPerOp)
			if x.CmdsPerOp >= 0 {
				cmds = fmt.Sprintf("%.2f", x.CmdsPerOp)
			}
		}
		out = append(out, []string{x.Scenario, x.Library, ops, p50, p99, allocs, cpu, cmds, ratio, x.Notes})
	}
	return out
}

func (r *report) caption() string {
	m := r.Meta
	pg := "no PostgreSQL"
	if m.Postgres {
		pg = "PostgreSQL"
	}
	return fmt.Sprintf("%s, GOMAXPROCS=%d (%d CPUs), Redis %s on loopback, SQLite, %s; %d callers, %d keys, %s per row after %s warm-up; %s",
		m.GoVersion, m.GOMAXPROCS, m.NumCPU, m.Redis, pg, m.Concurrency, m.Keys, m.Duration, m.Warmup, m.Time.Format(time.RFC3339))
}

func (r *report) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	prev := ""
	for i, row := range r.cells() {
		if row[0] == prev {
			row[0] = ""
		} else if i > 0 {
			fmt.Fprintln(tw, strings.Repeat("\t", len(header)-1))
		}
		prev = r.Results[i].Scenario
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.caption())
	return err
}

func (r *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(header)) + "\n")
	for i, row := range r.cells() {
		for j := range row {
			row[j] = strings.ReplaceAll(row[j], "|", `\|`)
		}
		if r.Results[i].Ref {
			row[1] = "**" + row[1] + "**"
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n" + r.caption() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// fmtOps prints a rate with three significant digits.
func fmtOps(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtDur prints a latency with about three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
