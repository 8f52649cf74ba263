package config_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/filecache/filecache/config"
)

func TestBindUsage(t *testing.T) {
	fs := config.FlagSet("serve")
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
	if n != 36 {
		t.Errorf("%d flags, want 36", n)
	}
}

func TestFlagSecretsHidden(t *testing.T) {
	fs := config.FlagSet("serve")
	if err := fs.Parse([]string{"--admin-token=Adm1nTok3n-zq", "--redis-url=redis://:urlPassw0rd-zq@h"}); err != nil {
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
	if cfg.HTTP.AdminToken.Reveal() != "Adm1nTok3n-zq" || cfg.Redis.Password.Reveal() != "urlPassw0rd-zq" {
		t.Errorf("secrets from flags lost: %q %q", cfg.HTTP.AdminToken.Reveal(), cfg.Redis.Password.Reveal())
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
	config.Bind(cmd.Flags())
	cmd.SetArgs([]string{"--listen-addr=:2222", "--redis-sentinel-addrs", "s1:26379,s2:26379", "--redis-sentinel-master=mymaster"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got.HTTP.ListenAddr != ":2222" || got.Cache.TTLFile != 2*time.Hour || got.RedisMode() != config.RedisSentinel || got.Redis.MasterSet != "mymaster" {
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
