package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// The harness talks to its servers with this minimal RESP2 client rather
// than a full client library: one connection per command, a hard deadline,
// and error replies returned as errors, so that polling a server that is
// down, starting or sleeping can neither hang nor be mistaken for success.

const (
	dialTimeout    = time.Second
	commandTimeout = 5 * time.Second
	pollInterval   = 50 * time.Millisecond
)

// replyError is an error reply from the server, such as "ERR ..." or
// "LOADING ...".
type replyError string

func (e replyError) Error() string { return string(e) }

// do sends one command to addr on a fresh connection and returns the reply:
// string for simple and bulk strings, int64, []any for arrays, nil for
// null replies, and replyError for error replies.
func do(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	reply, err := readReply(bufio.NewReader(conn))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", addr, strings.Join(args, " "), err)
	}
	return reply, nil
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, replyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				var re replyError
				if !errors.As(err, &re) {
					return nil, err
				}
				items[i] = re
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// doString runs a command whose reply is a string, such as PING or INFO.
func doString(addr string, args ...string) (string, error) {
	reply, err := do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := reply.(string)
	if !ok {
		return "", fmt.Errorf("%s %s: reply %v is not a string", addr, strings.Join(args, " "), reply)
	}
	return s, nil
}

// doStrings runs a command whose reply is an array of strings, such as
// ROLE (its first elements) or SENTINEL GET-MASTER-ADDR-BY-NAME.
func doStrings(addr string, args ...string) ([]string, error) {
	reply, err := do(addr, args...)
	if err != nil {
		return nil, err
	}
	items, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("%s %s: reply %v is not an array", addr, strings.Join(args, " "), reply)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(it))
		}
	}
	return out, nil
}

// infoField returns the value of key in an INFO or CLUSTER INFO reply.
func infoField(info, key string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), key+":"); ok {
			return v
		}
	}
	return ""
}

// pairs turns a flat key/value array reply, such as SENTINEL MASTER's,
// into a map.
func pairs(kv []string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// errExited tells poll that the process it waits for has exited, so
// waiting longer is pointless.
var errExited = errors.New("process exited")

// poll calls check every pollInterval until it returns nil, and returns
// check's last error once timeout has passed or at once if it is errExited.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. They are held open together so they differ from each other; a
// server that then fails to bind one is retried on new ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
