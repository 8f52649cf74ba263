package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redis/rueidis"
)

// Errors of a connection that retrying cannot fix: Dial and NewBackground
// return them wrapped, with Redis' own words.
var (
	// ErrAuth means Redis refused the credentials: a wrong password or
	// user name (WRONGPASS), or none given to a server that needs one
	// (NOAUTH).
	ErrAuth = errors.New("redisstore: authentication failed")
	// ErrPermission means the ACL user lacks a command the Store runs when
	// it connects (NOPERM), such as CLIENT TRACKING.
	ErrPermission = errors.New("redisstore: permission denied")
	// ErrTLS means the TLS handshake failed: a certificate that does not
	// verify, a server name that does not match, a client certificate the
	// server refused.
	ErrTLS = errors.New("redisstore: TLS handshake failed")
)

// Dial is New with the failures that retrying cannot fix classified:
// errors.Is(err, ErrAuth), ErrPermission or ErrTLS tells them apart from a
// server that does not answer (yet).
func Dial(ctx context.Context, opts Options) (*Store, error) {
	s, err := New(ctx, opts)
	if err == nil {
		return s, nil
	}
	err = classify(err)
	if !permanent(err) && len(opts.Track) > 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		// rueidis sends CLIENT TRACKING right behind HELLO. When HELLO
		// fails, the connection is still unauthenticated, and Redis (7.0+)
		// closes an unauthenticated connection that sends a command of more
		// than 10 arguments: the client sees EOF instead of WRONGPASS or
		// NOAUTH. Connecting once without tracking shows the real reply.
		probe := opts
		probe.Track = nil
		ps, perr := New(ctx, probe)
		if perr == nil {
			ps.Close()
		} else if perr = classify(perr); permanent(perr) {
			return nil, perr
		}
	}
	return nil, err
}

// classify wraps err with ErrAuth, ErrPermission or ErrTLS when it is one
// of those; other errors are returned as they are.
func classify(err error) error {
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		msg := re.Error()
		switch {
		case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"):
			return fmt.Errorf("%w: %s", ErrAuth, msg)
		case strings.HasPrefix(msg, "NOPERM"):
			return fmt.Errorf("%w: %s", ErrPermission, msg)
		}
	}
	if errors.Is(err, rueidis.ErrNoCache) && strings.Contains(err.Error(), "NOPERM") {
		// rueidis reports a refused CLIENT TRACKING as text.
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the server's certificate is signed by an authority this process does not trust (give its CA certificate): %v", ErrTLS, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: the server's certificate does not name the address dialed (give the name it holds): %v", ErrTLS, err)
	case errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("%w: %v", ErrTLS, err)
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// An alert from the server, such as "certificate required".
		return fmt.Errorf("%w: %v", ErrTLS, err)
	}
	return err
}

// permanent reports whether err is one that retrying cannot fix.
func permanent(err error) bool {
	return errors.Is(err, ErrAuth) || errors.Is(err, ErrPermission) || errors.Is(err, ErrTLS)
}
