package config_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/metrics"
)

// flagSet returns a flag set with every group bound, as serve has.
func flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Bind(fs, config.AllGroups()...)
	return fs
}

func TestBindUsage(t *testing.T) {
	fs := flagSet()
	usage := fs.FlagUsages()
	for _, want := range []string{
		"--listen-addr string",
		`listen address, host:port (env LISTEN_ADDR) (default ":8080")`,
		"(env DATABASE_URL) (default sqlite:filecache.db)",
		"--cache-ttl-file duration",
		"(env CACHE_TTL_FILE) (default 1h)",
		"(env CACHE_TTL_SESSION) (default 30m)",
		"(env CACHE_TTL_JITTER) (default 0.1)",
		"(env REDIS_POOL_SIZE) (default 50)",
		"(env REDIS_DIAL_TIMEOUT) (default 5s)",
		"(env REDIS_KEEPALIVE) (default 30s)",
		"(env CACHE_STATS_LOG_INTERVAL) (default 5m)",
		"(env REDIS_INFO_INTERVAL) (default 30s)",
		"--redis-tls-ca-file file",
		"(env REDIS_TLS_SERVER_NAME)",
		"(env DB_TIMEOUT)",
		"(env REDIS_RETRY_ON_TIMEOUT) (default true)",
		"(env LOG_LEVEL) (default info)",
		"--admin-token secret",
		"--redis-password secret",
		"(env TRUSTED_PROXIES)",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	// Every flag names its variable, and every variable has a flag.
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		env := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if !strings.Contains(f.Usage, "(env "+env+")") {
			t.Errorf("flag --%s usage %q does not name %s", f.Name, f.Usage, env)
		}
	})
	if n != 51 {
		t.Errorf("%d flags, want 51", n)
	}
}

// TestBindDefaultsFromLibraries checks that --help shows the defaults the
// libraries apply, read from their constants.
func TestBindDefaultsFromLibraries(t *testing.T) {
	fs := flagSet()
	for flag, want := range map[string]string{
		"cache-ttl-file":           catalog.DefaultFileTTL.String(),
		"cache-ttl-session":        catalog.DefaultSessionTTL.String(),
		"cache-ttl-stats":          catalog.DefaultStatsTTL.String(),
		"cache-ttl-search":         catalog.DefaultSearchTTL.String(),
		"cache-ttl-settings":       catalog.DefaultSettingsTTL.String(),
		"cache-ttl-jitter":         fmt.Sprint(cache.DefaultJitter),
		"redis-dial-timeout":       redisstore.DefaultDialTimeout.String(),
		"redis-read-timeout":       redisstore.DefaultReadTimeout.String(),
		"redis-write-timeout":      redisstore.DefaultWriteTimeout.String(),
		"redis-keepalive":          redisstore.DefaultKeepAlive.String(),
		"redis-pool-size":          fmt.Sprint(redisstore.DefaultPoolSize),
		"redis-max-retries":        fmt.Sprint(redisstore.DefaultMaxRetries),
		"redis-info-interval":      metrics.DefaultRedisInfoInterval.String(),
		"cache-stats-log-interval": metrics.DefaultStatsLogInterval.String(),
	} {
		f := fs.Lookup(flag)
		if f == nil {
			t.Errorf("no flag --%s", flag)
			continue
		}
		got := f.DefValue
		if d, err := time.ParseDuration(got); err == nil {
			got = d.String()
		}
		if got != want {
			t.Errorf("--%s default %q, want %q", flag, f.DefValue, want)
		}
	}
}

// TestBindGroups checks that Bind registers the groups asked for, with
// LOG_LEVEL, each flag annotated with its group.
func TestBindGroups(t *testing.T) {
	fs := pflag.NewFlagSet("backup", pflag.ContinueOnError)
	config.Bind(fs, config.GroupRedis)
	for _, name := range []string{"redis-url", "cache-prefix", "redis-tls-ca-file", "log-level"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no --%s", name)
		}
	}
	for _, name := range []string{"listen-addr", "database-url", "cache-ttl-file", "admin-token"} {
		if fs.Lookup(name) != nil {
			t.Errorf("--%s bound with the Redis group only", name)
		}
	}
	if g := fs.Lookup("redis-url").Annotations[config.GroupAnnotation]; len(g) != 1 || g[0] != string(config.GroupRedis) {
		t.Errorf("--redis-url group annotation = %q", g)
	}
	all := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Bind(all)
	if all.Lookup("listen-addr") == nil || all.Lookup("redis-url") == nil || all.Lookup("cache-ttl-file") == nil {
		t.Error("Bind without groups did not bind every group")
	}
}

func TestFlagSecretsHidden(t *testing.T) {
	fs := flagSet()
	if err := fs.Parse([]string{"--admin-token=Adm1nTok3n-zq-0123", "--redis-url=redis://:urlPassw0rd-zq@h"}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	fs.VisitAll(func(f *pflag.Flag) { out.WriteString(f.Value.String() + " " + f.DefValue + "\n") })
	out.WriteString(fs.FlagUsages())
	assertNoSecret(t, "flag values", out.String())
	cfg, err := config.FromFlags(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.AdminToken.Reveal() != "Adm1nTok3n-zq-0123" || cfg.Redis.Options.Password != "urlPassw0rd-zq" {
		t.Errorf("secrets from flags lost: %q %q", cfg.HTTP.AdminToken.Reveal(), cfg.Redis.Options.Password)
	}
}

// TestCobra checks the way cmd/filecache uses the package.
func TestCobra(t *testing.T) {
	var got config.Config
	cmd := &cobra.Command{
		Use: "serve",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			got, err = config.FromFlags(cmd.Flags(), env(map[string]string{
				"CACHE_TTL_FILE": "2h",
				"LISTEN_ADDR":    ":1111",
			}))
			return err
		},
	}
	config.Bind(cmd.Flags(), config.AllGroups()...)
	cmd.SetArgs([]string{"--listen-addr=:2222", "--redis-sentinel-addrs", "s1:26379,s2:26379", "--redis-sentinel-master=mymaster"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got.HTTP.ListenAddr != ":2222" || got.Cache.TTLs.File != 2*time.Hour || got.Redis.Mode != config.RedisSentinel || got.Redis.Options.MasterSet != "mymaster" {
		t.Errorf("got %+v", got)
	}

	var help bytes.Buffer
	cmd.SetOut(&help)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("Execute --help: %v", err)
	}
	if !strings.Contains(help.String(), "(env REDIS_SENTINEL_MASTER)") {
		t.Errorf("--help lacks the env names:\n%s", help.String())
	}
}

func TestFromFlagsWithoutBind(t *testing.T) {
	fs := pflag.NewFlagSet("other", pflag.ContinueOnError)
	got, err := config.FromFlags(fs, env(map[string]string{"LISTEN_ADDR": ":3333"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.HTTP.ListenAddr != ":3333" {
		t.Errorf("ListenAddr = %q, want :3333", got.HTTP.ListenAddr)
	}
}
