package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/filecache/filecache/internal/testenv"
)

// TLSFiles names the PEM files of a test CA and of the certificates it
// signed. scripts/test.sh makes them with openssl in one directory, under
// the names of TLSFilesIn.
type TLSFiles struct {
	CAFile string
	// ServerCertFile and ServerKeyFile are the servers' certificate, for
	// 127.0.0.1 and localhost, good for server and client authentication
	// (a cluster node is a client of the other nodes' bus).
	ServerCertFile, ServerKeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate.
	ClientCertFile, ClientKeyFile string
}

// TLSFilesIn returns the files as scripts/test.sh names them in dir:
// ca.crt, server.crt, server.key, client.crt and client.key.
func TLSFilesIn(dir string) TLSFiles {
	return TLSFiles{
		CAFile:         filepath.Join(dir, "ca.crt"),
		ServerCertFile: filepath.Join(dir, "server.crt"),
		ServerKeyFile:  filepath.Join(dir, "server.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
	}
}

// RequireTLSFiles returns the files of TEST_REDIS_TLS_CA_FILE,
// TEST_REDIS_TLS_CERT_FILE and TEST_REDIS_TLS_KEY_FILE, with the server's
// pair beside the CA file as scripts/test.sh writes it. It skips the test,
// or fails it if REQUIRE_SERVICES=1, when a variable is empty.
func RequireTLSFiles(t testing.TB) TLSFiles {
	t.Helper()
	files := TLSFilesIn(filepath.Dir(testenv.Require(t, EnvRedisTLSCAFile)))
	files.ClientCertFile = testenv.Require(t, EnvRedisTLSCertFile)
	files.ClientKeyFile = testenv.Require(t, EnvRedisTLSKeyFile)
	return files
}

// ClientConfig returns a TLS client configuration that trusts only the CA
// and, if withCert, presents the client certificate.
func (f TLSFiles) ClientConfig(withCert bool) (*tls.Config, error) {
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", f.CAFile)
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// TLS configures a server to accept TLS connections only.
type TLS struct {
	Files TLSFiles
	// AuthClients makes the server require a client certificate signed by
	// the CA (tls-auth-clients yes); otherwise only the server is
	// verified, by the client.
	AuthClients bool
}

// serverArgs returns the redis-server arguments; a cluster node also
// speaks TLS on the bus and for replication.
func (c TLS) serverArgs(cluster bool) []string {
	auth := "no"
	if c.AuthClients {
		auth = "yes"
	}
	args := []string{
		"--tls-cert-file", c.Files.ServerCertFile,
		"--tls-key-file", c.Files.ServerKeyFile,
		"--tls-ca-cert-file", c.Files.CAFile,
		"--tls-auth-clients", auth,
	}
	if cluster {
		args = append(args, "--tls-cluster", "yes", "--tls-replication", "yes")
	}
	return args
}

// clientConfig is the harness's own configuration: it presents the client
// certificate when the server asks for one.
func (c TLS) clientConfig() (*tls.Config, error) {
	conf, err := c.Files.ClientConfig(c.AuthClients)
	if err != nil {
		return nil, fmt.Errorf("TLS files: %w", err)
	}
	return conf, nil
}

// cliArgs returns the redis-cli arguments for a server configured by c.
func (c TLS) cliArgs() []string {
	args := []string{"--tls", "--cacert", c.Files.CAFile}
	if c.AuthClients {
		args = append(args, "--cert", c.Files.ClientCertFile, "--key", c.Files.ClientKeyFile)
	}
	return args
}
