package main

import (
	"fmt"
	"io"
	"os"

	"github.com/filecache/filecache/internal/consistency"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a run's advance on w when w is a terminal, and stays
// silent in pipes and files.
type progress struct {
	bar  *progressbar.ProgressBar
	what string
}

func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{what: what, bar: progressbar.NewOptions64(100,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what+" setting up"),
		progressbar.OptionThrottle(100_000_000), // 100ms
		progressbar.OptionClearOnFinish(),
	)}
}

// update is the run's Progress callback: the bar follows the load's time.
func (p *progress) update(pr consistency.Progress) {
	if p.bar == nil {
		return
	}
	p.bar.Describe(fmt.Sprintf("%s %s: %d reads, %d writes", p.what, pr.Phase, pr.Reads, pr.Writes))
	_ = p.bar.Set64(min(100, int64(100*pr.Elapsed/max(pr.Duration, 1))))
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
