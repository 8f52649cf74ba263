package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/filecache/filecache/internal/durfmt"
)

// WriteText writes the report as tables for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "filecache cache report, %s, store: %s\n", r.GeneratedAt.Format(time.RFC3339), r.Store)
	t := r.Totals
	fmt.Fprintf(bw, "hit ratio %s over %d lookups (near %s, store %s)\n",
		ratio(t.HitRatio, t.Lookups), t.Lookups, ratio(t.NearHitRatio, t.Lookups), ratio(t.StoreHitRatio, t.Lookups))

	fmt.Fprintln(bw, "\nFAMILIES")
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"family", "lookups", "hit ratio", "near", "store", "misses", "keys", "sampled", "memory", "avg size", "avg ttl"}
	for _, b := range ttlBuckets {
		header = append(header, "ttl "+b.label)
	}
	row(tw, header...)
	for _, f := range r.Families {
		cells := []string{f.Family, u(f.Lookups), ratio(f.HitRatio, f.Lookups), ratio(f.NearHitRatio, f.Lookups),
			ratio(f.StoreHitRatio, f.Lookups), u(f.Misses), i64(f.Keys), strconv.Itoa(f.Sampled),
			Bytes(f.MemoryBytes), Bytes(f.AvgValueBytes), ttl(f.AvgTTLSeconds)}
		for _, b := range f.TTL {
			cells = append(cells, strconv.Itoa(b.Keys))
		}
		row(tw, cells...)
	}
	tw.Flush()

	if rd := r.Redis; rd != nil {
		fmt.Fprintf(bw, "\nREDIS (%s)\n", rd.Mode)
		fmt.Fprintf(bw, "keyspace hit ratio %s (%d hits, %d misses); evicted keys %d; expired keys %d; used memory %s of %s\n",
			ratio(rd.HitRatio, uint64(rd.KeyspaceHits+rd.KeyspaceMisses)), rd.KeyspaceHits, rd.KeyspaceMisses,
			rd.EvictedKeys, rd.ExpiredKeys, Bytes(rd.UsedMemory), maxmem(rd.MaxMemory))
		if rd.ScanTruncated {
			fmt.Fprintf(bw, "scan stopped after %d keys: key counts and memory are extrapolated\n", rd.ScannedKeys)
		}
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		row(tw, "node", "role", "version", "policy", "used memory", "maxmemory", "keys", "clients", "evicted", "hits", "misses", "error")
		for _, n := range rd.Nodes {
			row(tw, n.Addr, n.Role, n.Version, n.MaxMemoryPolicy, Bytes(n.UsedMemory), maxmem(n.MaxMemory), i64(n.Keys),
				i64(n.ConnectedClients), i64(n.EvictedKeys), i64(n.KeyspaceHits), i64(n.KeyspaceMisses), n.Error)
		}
		tw.Flush()
	}

	fmt.Fprintln(bw, "\nTOP KEYS")
	if !r.TopKeys.Available {
		fmt.Fprintf(bw, "unavailable: %s\n", r.TopKeys.Reason)
	} else {
		fmt.Fprintf(bw, "source: %s\n", r.TopKeys.Source)
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		for i, k := range r.TopKeys.Keys {
			freq := ""
			if k.Freq > 0 {
				freq = i64(k.Freq)
			}
			row(tw, strconv.Itoa(i+1), k.Key, freq)
		}
		tw.Flush()
	}

	r.writeAudit(bw)

	fmt.Fprintln(bw, "\nRECOMMENDATIONS")
	if len(r.Recommendations) == 0 {
		fmt.Fprintln(bw, "none")
	}
	for _, rec := range r.Recommendations {
		fmt.Fprintf(bw, "[%s] %s (%s): %s\n", rec.Severity, rec.Code, rec.Subject, rec.Message)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(bw, "\nnote: %s\n", n)
	}
	return bw.Flush()
}

func row(w io.Writer, cells ...string) {
	// Cells come from Redis (addresses, versions) or are keys: no control
	// character may break the table or drive the terminal.
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '?'
			}
			return r
		}, c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t")+"\t")
}

func ratio(r float64, lookups uint64) string {
	if lookups == 0 {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 3, 64)
}

func ttl(seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return durfmt.Short(time.Duration(seconds * float64(time.Second)).Round(time.Second))
}

func maxmem(n int64) string {
	if n == 0 {
		return "unbounded"
	}
	return Bytes(n)
}

func u(n uint64) string  { return strconv.FormatUint(n, 10) }
func i64(n int64) string { return strconv.FormatInt(n, 10) }
