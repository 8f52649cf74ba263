package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/testenv"
	"github.com/redis/rueidis"
)

// TestTLSServers proves the TLS servers scripts/test.sh starts: each
// answers a rueidis client that trusts the test CA (and presents the client
// certificate to the mutual-TLS server), and refuses one that does not.
func TestTLSServers(t *testing.T) {
	files := RequireTLSFiles(t)
	standalone := urlAddr(t, testenv.Require(t, EnvRedisTLSURL))
	mutual := urlAddr(t, testenv.Require(t, EnvRedisMTLSURL))
	cluster := testenv.RequireList(t, EnvRedisTLSClusterNodes)
	verify := clientConfig(t, files, false)
	withCert := clientConfig(t, files, true)
	// A client that presents the certificate but trusts only the system's
	// CAs, as with a rediss:// URL and no CA file.
	systemCAs := &tls.Config{Certificates: withCert.Certificates}

	tests := []struct {
		name  string
		addrs []string
		conf  *tls.Config
		nodes int   // masters a working client sees
		want  error // nil, errUnknownCA, or errAny
	}{
		{name: "tls/ca", addrs: []string{standalone}, conf: verify, nodes: 1},
		{name: "tls/system-cas", addrs: []string{standalone}, conf: systemCAs, want: errUnknownCA},
		{name: "tls/plain-tcp", addrs: []string{standalone}, want: errAny},
		{name: "mtls/ca+cert", addrs: []string{mutual}, conf: withCert, nodes: 1},
		{name: "mtls/ca-without-cert", addrs: []string{mutual}, conf: verify, want: errAny},
		{name: "mtls/system-cas", addrs: []string{mutual}, conf: systemCAs, want: errUnknownCA},
		{name: "cluster/ca", addrs: cluster, conf: verify, nodes: 3},
		{name: "cluster/system-cas", addrs: cluster, conf: systemCAs, want: errUnknownCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := roundTrip(t, tt.addrs, tt.conf, tt.nodes)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("round trip over TLS: %v", err)
			case tt.want != nil && err == nil:
				t.Fatal("round trip succeeded; want the connection refused")
			case errors.Is(tt.want, errUnknownCA) && !isUnknownCA(err):
				t.Fatalf("error %v; want x509: certificate signed by unknown authority", err)
			case err != nil:
				t.Logf("refused as expected: %v", err)
			}
		})
	}
}

// TestStandaloneTLS starts a private mutual-TLS server through the harness.
func TestStandaloneTLS(t *testing.T) {
	files := RequireTLSFiles(t)
	s := StandaloneTLS(t, TLS{Files: files, AuthClients: true})
	if !strings.HasPrefix(s.URL(), "rediss://") {
		t.Errorf("URL() = %q, want rediss://", s.URL())
	}
	if err := roundTrip(t, []string{s.Addr()}, clientConfig(t, files, true), 1); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if err := roundTrip(t, []string{s.Addr()}, clientConfig(t, files, false), 1); err == nil {
		t.Fatal("without a client certificate: the server answered")
	}
}

var (
	errUnknownCA = errors.New("want an unknown authority")
	errAny       = errors.New("want any error")
)

func isUnknownCA(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// roundTrip connects to addrs with conf (nil for plain TCP), writes and
// reads keys spread over the cluster's slots, and checks that the client
// sees nodes masters.
func roundTrip(t *testing.T, addrs []string, conf *tls.Config, nodes int) error {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:   addrs,
		TLSConfig:     conf,
		DisableCache:  true,
		DisableRetry:  true,
		ClientSetInfo: rueidis.DisableClientSetInfo, // not in Redis 7.0
		Dialer:        net.Dialer{Timeout: 5 * time.Second},
	})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx := t.Context()
	prefix := fmt.Sprintf("tlstest:%d:", time.Now().UnixNano())
	for i := range 16 {
		key := fmt.Sprintf("%s%d", prefix, i)
		if err := client.Do(ctx, client.B().Set().Key(key).Value("v").Ex(time.Minute).Build()).Error(); err != nil {
			return err
		}
		if got, err := client.Do(ctx, client.B().Get().Key(key).Build()).ToString(); err != nil || got != "v" {
			return fmt.Errorf("GET %s = %q, %w", key, got, err)
		}
	}
	if got := len(client.Nodes()); got < nodes {
		return fmt.Errorf("the client sees %d nodes, want %d", got, nodes)
	}
	return nil
}

func clientConfig(t *testing.T, files TLSFiles, withCert bool) *tls.Config {
	t.Helper()
	conf, err := files.ClientConfig(withCert)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// urlAddr returns the host:port of a rediss:// URL.
func urlAddr(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "rediss" || u.Host == "" {
		t.Fatalf("%q is not a rediss:// URL (%v)", raw, err)
	}
	return u.Host
}
