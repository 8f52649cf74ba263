// Command testreport reads the event stream of "go test -json" on standard
// input and prints what plain "go test" prints (a line per package, and the
// whole output of every failed test and package), then a summary: counts,
// skipped tests, the slowest tests, and the failures again. scripts/test.sh
// pipes go test through it.
//
// Run "testreport -help" for the flags and examples.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

const usage = `Usage: go test -json [packages] | testreport [flags]

Prints the test output as plain "go test" would (with -v: every line as it
comes), then the counts of tests passed, failed and skipped, the skipped
tests, the slowest top-level tests, and the failed tests and packages again,
so a failure is never lost in the middle of a long log. Exits 1 if a test, a
package or a build failed, 2 on unreadable input.

Flags:
  -v          print every output line as it arrives (go test -v)
  -slowest N  how many of the slowest tests to list (default 15)
  -module P   drop this import path prefix in the summary
              (default github.com/filecache/filecache/)

Examples:
  go test -json -race ./... | go run ./internal/cmd/testreport
  go test -json -run TestConformance ./cache/... | testreport -v -slowest 5
`

func main() {
	code, err := run(os.Args[1:], os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
	}
	os.Exit(code)
}

// maxSkipped is how many skipped tests the summary names; without the
// services, hundreds skip for the same reason.
const maxSkipped = 30

// event is one line of "go test -json" (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail
	Test       string
	Elapsed    float64 // seconds
	Output     string
}

// line is one output line of a test or, with test "", of a package.
type line struct{ test, text string }

// result is the end of one test.
type result struct {
	pkg, test  string
	elapsed    time.Duration
	skipReason string
}

type report struct {
	out     io.Writer
	verbose bool
	module  string

	lines              map[string][]line // buffered output by package
	passed             int
	failed, skipped    []result
	tests              []result // finished top-level tests
	failedPkgs, builds []string
}

func run(args []string, in io.Reader, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("testreport", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	verbose := fs.Bool("v", false, "")
	slowest := fs.Int("slowest", 15, "")
	module := fs.String("module", "github.com/filecache/filecache/", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err = io.WriteString(out, usage)
			return 0, err
		}
		return 2, fmt.Errorf("%w\n\n%s", err, usage)
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	}

	r := &report{out: out, verbose: *verbose, module: *module, lines: map[string][]line{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		text := sc.Bytes()
		var ev event
		if len(text) == 0 || text[0] != '{' || json.Unmarshal(text, &ev) != nil {
			// Not an event, such as a build error printed by an older
			// go command: pass it on.
			fmt.Fprintf(out, "%s\n", text)
			continue
		}
		r.handle(ev)
	}
	if err := sc.Err(); err != nil {
		return 2, err
	}
	r.summary(*slowest)
	if len(r.failed)+len(r.failedPkgs)+len(r.builds) > 0 {
		return 1, nil
	}
	return 0, nil
}

func (r *report) handle(ev event) {
	switch ev.Action {
	case "build-output":
		fmt.Fprint(r.out, ev.Output)
	case "build-fail":
		r.builds = append(r.builds, ev.ImportPath)
	case "output":
		if r.verbose {
			fmt.Fprint(r.out, ev.Output)
		}
		r.lines[ev.Package] = append(r.lines[ev.Package], line{ev.Test, ev.Output})
	case "pass", "fail", "skip":
		if ev.Test == "" {
			r.endPackage(ev)
		} else {
			r.endTest(ev)
		}
	}
}

func (r *report) endTest(ev event) {
	res := result{pkg: ev.Package, test: ev.Test, elapsed: time.Duration(ev.Elapsed * float64(time.Second))}
	switch ev.Action {
	case "pass":
		r.passed++
	case "fail":
		r.failed = append(r.failed, res)
	case "skip":
		res.skipReason = r.skipReason(ev.Package, ev.Test)
		r.skipped = append(r.skipped, res)
	}
	if strings.Contains(ev.Test, "/") {
		return
	}
	r.tests = append(r.tests, res)
	if ev.Action == "fail" && !r.verbose {
		// The test's output and its subtests', in the order written.
		for _, l := range r.lines[ev.Package] {
			if l.test == ev.Test || strings.HasPrefix(l.test, ev.Test+"/") {
				fmt.Fprint(r.out, l.text)
			}
		}
	}
}

// skipReason returns the last line the skipped test logged, which is
// where t.Skip puts its message.
func (r *report) skipReason(pkg, test string) string {
	lines := r.lines[pkg]
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		text := strings.TrimSpace(l.text)
		if l.test != test || text == "" || strings.HasPrefix(text, "---") || strings.HasPrefix(text, "===") {
			continue
		}
		return text
	}
	return ""
}

func (r *report) endPackage(ev event) {
	if ev.Action == "fail" {
		r.failedPkgs = append(r.failedPkgs, ev.Package)
	}
	for _, l := range r.lines[ev.Package] {
		if l.test != "" {
			continue
		}
		// Plain go test prints a passing package's final line only.
		final := strings.HasPrefix(l.text, "ok ") || strings.HasPrefix(l.text, "?") || strings.HasPrefix(l.text, "FAIL\t")
		if !r.verbose && (ev.Action == "fail" || final) {
			fmt.Fprint(r.out, l.text)
		}
	}
	delete(r.lines, ev.Package)
}

func (r *report) name(res result) string {
	return strings.TrimPrefix(res.pkg, r.module) + "." + res.test
}

func (r *report) summary(slowest int) {
	w := r.out
	fmt.Fprintf(w, "\n%d tests passed, %d failed, %d skipped (subtests included)\n", r.passed, len(r.failed), len(r.skipped))
	if len(r.skipped) > 0 {
		fmt.Fprintln(w, "\nSkipped:")
		for _, s := range r.skipped[:min(len(r.skipped), maxSkipped)] {
			fmt.Fprintf(w, "  %s: %s\n", r.name(s), s.skipReason)
		}
		if n := len(r.skipped) - maxSkipped; n > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", n)
		}
	}
	slices.SortStableFunc(r.tests, func(a, b result) int { return cmp.Compare(b.elapsed, a.elapsed) })
	if n := min(slowest, len(r.tests)); n > 0 {
		fmt.Fprintf(w, "\nSlowest %d tests:\n", n)
		for _, s := range r.tests[:n] {
			fmt.Fprintf(w, "  %8.2fs  %s\n", s.elapsed.Seconds(), r.name(s))
		}
	}
	if len(r.failed)+len(r.failedPkgs)+len(r.builds) > 0 {
		fmt.Fprintln(w, "\nFailed:")
		for _, f := range r.failed {
			fmt.Fprintf(w, "  %s (%.2fs)\n", r.name(f), f.elapsed.Seconds())
		}
		for _, p := range r.failedPkgs {
			fmt.Fprintf(w, "  package %s\n", strings.TrimPrefix(p, r.module))
		}
		for _, b := range r.builds {
			fmt.Fprintf(w, "  build of %s\n", strings.TrimPrefix(b, r.module))
		}
	}
}
