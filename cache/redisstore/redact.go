package redisstore

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// redacted is what a non-empty password prints as.
const redacted = "[redacted]"

// Format implements fmt.Formatter: every verb prints the view of the
// options (the defaults applied, the password redacted, the TLS
// configuration summarized), never the key material a TLS configuration
// holds.
func (o Options) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.view())
}

// optionsView is the printed form of Options: only strings, numbers and
// booleans.
type optionsView struct {
	Addrs            []string `json:"addrs"`
	MasterSet        string   `json:"master_set,omitempty"`
	Username         string   `json:"username,omitempty"`
	Password         string   `json:"password,omitempty"`
	DB               int      `json:"db"`
	TLS              bool     `json:"tls"`
	TLSServerName    string   `json:"tls_server_name,omitempty"`
	TLSClientCert    bool     `json:"tls_client_cert,omitempty"`
	TLSInsecure      bool     `json:"tls_insecure,omitempty"`
	DialTimeout      string   `json:"dial_timeout"`
	ReadTimeout      string   `json:"read_timeout"`
	WriteTimeout     string   `json:"write_timeout"`
	KeepAlive        string   `json:"keepalive"`
	ReplicaWait      string   `json:"replica_wait"`
	PoolSize         int      `json:"pool_size"`
	MaxRetries       int      `json:"max_retries"`
	NoRetryOnTimeout bool     `json:"no_retry_on_timeout,omitempty"`
	Track            []string `json:"track,omitempty"`
}

// view returns o as it is shown: the defaults applied, the password
// redacted, the TLS configuration summarized.
func (o Options) view() optionsView {
	_ = o.setDefaults() // a bad address shows as given
	v := optionsView{
		Addrs: o.Addrs, MasterSet: o.MasterSet, Username: o.Username, DB: o.DB,
		DialTimeout: o.DialTimeout.String(), ReadTimeout: o.ReadTimeout.String(), WriteTimeout: o.WriteTimeout.String(),
		KeepAlive: o.KeepAlive.String(), ReplicaWait: o.ReplicaWait.String(), PoolSize: o.PoolSize, MaxRetries: o.MaxRetries,
		NoRetryOnTimeout: o.NoRetryOnTimeout, Track: o.Track,
	}
	if o.KeepAlive < 0 {
		v.KeepAlive = "off"
	}
	if o.ReplicaWait < 0 {
		v.ReplicaWait = "off"
	}
	if o.Password != "" {
		v.Password = redacted
	}
	if o.TLS != nil {
		v.TLS = true
		v.TLSServerName = o.TLS.ServerName
		v.TLSClientCert = len(o.TLS.Certificates) > 0 || o.TLS.GetClientCertificate != nil
		v.TLSInsecure = o.TLS.InsecureSkipVerify
	}
	return v
}

// MarshalJSON implements json.Marshaler with the password redacted.
func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.view()) }

// LogValue implements slog.LogValuer with the password redacted.
func (o Options) LogValue() slog.Value {
	v := o.view()
	return slog.GroupValue(
		slog.Any("addrs", v.Addrs),
		slog.String("master_set", v.MasterSet),
		slog.String("username", v.Username),
		slog.String("password", v.Password),
		slog.Int("db", v.DB),
		slog.Bool("tls", v.TLS),
		slog.String("tls_server_name", v.TLSServerName),
		slog.Bool("tls_client_cert", v.TLSClientCert),
		slog.Bool("tls_insecure", v.TLSInsecure),
		slog.String("dial_timeout", v.DialTimeout),
		slog.String("read_timeout", v.ReadTimeout),
		slog.String("write_timeout", v.WriteTimeout),
		slog.String("keepalive", v.KeepAlive),
		slog.Int("pool_size", v.PoolSize),
		slog.Int("max_retries", v.MaxRetries),
		slog.Bool("retry_on_timeout", !v.NoRetryOnTimeout),
	)
}
