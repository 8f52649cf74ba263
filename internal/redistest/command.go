package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// The harness sends each command on a short-lived rueidis client of its
// own, with hard deadlines and no retries, so that polling a server that
// is down, starting or sleeping can neither hang nor be mistaken for
// success. Servers are killed and restarted under the harness, so it keeps
// no connections between commands.

const (
	// dialTimeout bounds connecting and the handshake.
	dialTimeout = time.Second
	// commandTimeout bounds one command and its reply.
	commandTimeout = 5 * time.Second
)

// do sends one command to addr on a fresh client, over TLS with conf
// unless it is nil, and returns the reply. Error replies, such as "ERR
// ..." or "LOADING ...", are returned as *rueidis.RedisError, and null
// replies as rueidis.Nil; both come wrapped, so test them with errors.As
// and errors.Is.
func do(ctx context.Context, addr string, conf *tls.Config, args ...string) (rueidis.RedisMessage, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		TLSConfig:         conf,
		ForceSingleClient: true, // a cluster node or a sentinel, never its topology
		DisableCache:      true,
		DisableRetry:      true,
		// RESP2 keeps the replies the harness parses in their plain shapes:
		// bulk strings for INFO and CLUSTER NODES instead of RESP3 verbatim
		// strings, and flat key/value arrays instead of maps.
		AlwaysRESP2: true,
		// Redis 7.0 has no CLIENT SETINFO; skip the two commands.
		ClientSetInfo:    rueidis.DisableClientSetInfo,
		Dialer:           net.Dialer{Timeout: dialTimeout},
		ConnWriteTimeout: commandTimeout,
	})
	if client != nil {
		// With ForceSingleClient a client comes back even when the dial
		// failed, and it would keep redialling.
		defer client.Close()
	}
	if err != nil {
		return rueidis.RedisMessage{}, fmt.Errorf("%s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	msg, err := client.Do(ctx, client.B().Arbitrary(args...).Build()).ToMessage()
	if err != nil {
		return rueidis.RedisMessage{}, fmt.Errorf("%s %s: %w", addr, strings.Join(args, " "), err)
	}
	return msg, nil
}

// do sends one command to the server; see the function do.
func (s *Server) do(ctx context.Context, args ...string) (rueidis.RedisMessage, error) {
	return do(ctx, s.Addr(), s.tls, args...)
}

// doString runs a command whose reply is a string, such as PING or INFO.
func (s *Server) doString(ctx context.Context, args ...string) (string, error) {
	msg, err := s.do(ctx, args...)
	if err != nil {
		return "", err
	}
	str, err := msg.ToString()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", s.Addr(), strings.Join(args, " "), err)
	}
	return str, nil
}

// doStrings runs a command whose reply is an array, such as ROLE (of which
// the harness reads only the first element) or SENTINEL
// GET-MASTER-ADDR-BY-NAME. Elements that are not strings, such as ROLE's
// replication offset, come back as "".
func (s *Server) doStrings(ctx context.Context, args ...string) ([]string, error) {
	msg, err := s.do(ctx, args...)
	if err != nil {
		return nil, err
	}
	out, err := msg.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", s.Addr(), strings.Join(args, " "), err)
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
