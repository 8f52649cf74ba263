package redisinfo_test

import (
	"strings"
	"testing"

	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/redis/rueidis"
)

func client(t *testing.T, opt rueidis.ClientOption) rueidis.Client {
	t.Helper()
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestMemoryProblem(t *testing.T) {
	tests := []struct {
		m    redisinfo.Memory
		want []string // in the problem; none: fit
	}{
		{redisinfo.Memory{MaxMemory: 1 << 30, Policy: "allkeys-lru"}, nil},
		{redisinfo.Memory{MaxMemory: 1 << 30, Policy: "allkeys-lfu"}, nil},
		{redisinfo.Memory{MaxMemory: 0, Policy: "allkeys-lru"}, []string{"maxmemory 0", "maxmemory-policy allkeys-lru", "unbounded"}},
		{redisinfo.Memory{MaxMemory: 1 << 30, Policy: "noeviction"}, []string{"maxmemory 1073741824", "maxmemory-policy noeviction", "OOM"}},
		{redisinfo.Memory{MaxMemory: 1 << 30, Policy: "volatile-lru"}, []string{"maxmemory-policy volatile-lru", "allkeys-lru"}},
		{redisinfo.Memory{MaxMemory: 0, Policy: "noeviction"}, []string{"maxmemory 0", "maxmemory-policy noeviction", "REDIS_SET_MAXMEMORY_POLICY"}},
	}
	for _, tt := range tests {
		got := tt.m.Problem()
		if (got == "") != (tt.want == nil) {
			t.Errorf("%+v: Problem() = %q", tt.m, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: Problem() = %q, lacks %q", tt.m, got, w)
			}
		}
	}
}

// TestFetchMemory reads the memory settings of a real server, with CONFIG
// GET, and with INFO as a user who may not run CONFIG; then sets the
// policy.
func TestFetchMemory(t *testing.T) {
	srv := redistest.Standalone(t, "--maxmemory", "0", "--maxmemory-policy", "noeviction")
	admin := client(t, rueidis.ClientOption{InitAddress: []string{srv.Addr()}})
	ctx := t.Context()
	m, err := redisinfo.FetchMemory(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if m != (redisinfo.Memory{MaxMemory: 0, Policy: "noeviction", Source: "CONFIG GET"}) {
		t.Errorf("FetchMemory = %+v", m)
	}
	if m.Problem() == "" {
		t.Error("noeviction without maxmemory judged fit")
	}

	err = admin.Do(ctx, admin.B().AclSetuser().Username("noconfig").Rule("on", ">pw-0123456789abcdef", "+@all", "-config", "~*").Build()).Error()
	if err != nil {
		t.Fatal(err)
	}
	user := client(t, rueidis.ClientOption{InitAddress: []string{srv.Addr()}, Username: "noconfig", Password: "pw-0123456789abcdef"})
	if err := redisinfo.SetPolicy(ctx, user, "allkeys-lru"); err == nil {
		t.Error("SetPolicy succeeded for a user without CONFIG")
	}
	m, err = redisinfo.FetchMemory(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if m != (redisinfo.Memory{MaxMemory: 0, Policy: "noeviction", Source: "INFO"}) {
		t.Errorf("FetchMemory without CONFIG = %+v", m)
	}

	if err := redisinfo.SetPolicy(ctx, admin, "allkeys-lru"); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, admin.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", "64mb").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if m, err = redisinfo.FetchMemory(ctx, admin); err != nil || m.Policy != "allkeys-lru" || m.MaxMemory != 64<<20 || m.Problem() != "" {
		t.Errorf("after CONFIG SET: %+v, %v, problem %q", m, err, m.Problem())
	}
}
