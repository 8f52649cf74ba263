package consistency

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// servicePackage is what Build compiles.
	servicePackage = "github.com/filecache/filecache/cmd/filecache"
	// startTimeout bounds how long an instance may take to listen.
	startTimeout = 60 * time.Second
	// stopTimeout bounds how long an instance may take to exit after
	// SIGTERM before it is killed.
	stopTimeout = 15 * time.Second
)

// Build compiles the filecache command into dir and returns the path of
// the executable. It runs "go build", so it must run inside the module.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "filecache")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, servicePackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", servicePackage, err, out)
	}
	return bin, nil
}

// instance is one "filecache serve" process.
type instance struct {
	name   string
	base   string // http://127.0.0.1:PORT
	log    string // the path of its log file
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited
}

// startInstance runs "binary serve" with env added to the checker's own
// environment, writes its log to logPath, and returns once it listens.
func startInstance(ctx context.Context, name, binary, logPath string, env []string) (*instance, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "LOG_LEVEL=info"), env...)
	cmd.SysProcAttr = sysProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	in := &instance{name: name, log: logPath, cmd: cmd, exited: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		// The start-up log says where it listens; the rest goes to the file.
		lines := bufio.NewScanner(stderr)
		lines.Buffer(nil, 1<<20)
		found := false
		for lines.Scan() {
			fmt.Fprintln(logFile, lines.Text())
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if !found && json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
				found = true
			}
		}
		_, _ = io.Copy(logFile, stderr) // after a line too long to scan
		in.err = cmd.Wait()
		logFile.Close()
		close(in.exited)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case addr := <-listening:
		in.base = "http://" + addr
		return in, nil
	case <-in.exited:
		return nil, fmt.Errorf("instance %s exited before listening (%v):\n%s", name, in.err, tail(logPath))
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	<-in.exited
	return nil, fmt.Errorf("instance %s did not listen within %v:\n%s", name, startTimeout, tail(logPath))
}

// stop ends the instance with SIGTERM, or SIGKILL after stopTimeout.
func (in *instance) stop() error {
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
		var exit *exec.ExitError
		if errors.As(in.err, &exit) {
			return fmt.Errorf("instance %s exited with %v after SIGTERM", in.name, in.err)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = in.cmd.Process.Kill()
		<-in.exited
		return fmt.Errorf("instance %s did not stop within %v of SIGTERM", in.name, stopTimeout)
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
