package main

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/redis/rueidis"
)

// readmeACL returns the ACL SETUSER line of README.md, the one operators
// are told to run.
func readmeACL(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if l := strings.TrimSpace(lines.Text()); strings.HasPrefix(l, "ACL SETUSER filecache ") {
			return l
		}
	}
	t.Fatal("README.md has no ACL SETUSER filecache line")
	return ""
}

// TestACLUser runs the service as a Redis user restricted by the ACL line
// of README.md, on a private redis-server: the end-to-end checks of files,
// search, sessions, stats, settings, rate limits, tracking (near cache),
// invalidation events and the admin endpoints (report included) pass, and
// the user can touch no key outside the prefix.
func TestACLUser(t *testing.T) {
	line := readmeACL(t)
	srv := redistest.Standalone(t)
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The README's namespace is "fc:"; the end-to-end servers use e2e<random>:.
	const pw = "acl-test-password-0123"
	line = strings.ReplaceAll(line, "fc:", "e2e*")
	line = strings.Replace(line, ">change-this-password", ">"+pw, 1)
	args := strings.Fields(line)
	if err := admin.Do(t.Context(), admin.B().Arbitrary(args[0], args[1]).Args(args[2:]...).Build()).Error(); err != nil {
		t.Fatalf("%s: %v", line, err)
	}

	b := e2eBackend{
		name:      "acl",
		dsn:       sqltest.SQLiteDSN,
		wantStore: "redis standalone",
		redis: func(testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": "redis://filecache:" + pw + "@" + srv.Addr() + "/0"}
		},
	}
	for _, tc := range e2eCases("files", "search", "search_invalidation", "downloads_stats", "session",
		"settings", "health", "admin", "admin_warm", "rate_limit") {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, startE2EServer(t, b, tc.env), b)
		})
	}

	// Pub/Sub of the invalidation events ("filecache events").
	events, err := redisstore.Dial(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, Username: "filecache", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	c, err := cache.New(events, cache.Options{Prefix: "e2eacl:"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan cache.Event, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = c.Events(ctx, func(ev cache.Event) { got <- ev }) }()
	deadline := time.After(10 * time.Second)
	for received := false; !received; {
		if _, err := c.Invalidate(t.Context(), cache.Invalidation{Keys: []string{"e2eacl:file:1"}, Reason: "acl"}); err != nil {
			t.Fatalf("Invalidate as the filecache user: %v", err)
		}
		select {
		case <-got:
			received = true
		case <-time.After(100 * time.Millisecond): // not subscribed yet: again
		case <-deadline:
			t.Fatal("no invalidation event received as the filecache user")
		}
	}

	// Nothing the service did was refused, but CONFIG GET, which the
	// memory check replaces with INFO.
	entries, err := admin.Do(t.Context(), admin.B().AclLog().Count(100).Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		m, err := e.AsStrMap()
		if err != nil {
			t.Fatal(err)
		}
		if m["object"] != "config|get" {
			t.Errorf("ACL refused the service: %s %s (reason %s); add it to the README's ACL line", m["context"], m["object"], m["reason"])
		}
	}
	// Outside the namespace, the user can do nothing.
	user, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, Username: "filecache", Password: pw, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	for _, cmd := range []rueidis.Completed{
		user.B().Set().Key("other:key").Value("x").Build(),
		user.B().Get().Key("other:key").Build(),
		user.B().Flushall().Build(),
		user.B().Keys().Pattern("*").Build(),
		user.B().ConfigSet().ParameterValue().ParameterValue("maxmemory-policy", "noeviction").Build(),
	} {
		if err := user.Do(t.Context(), cmd).Error(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%v as the filecache user: %v; want NOPERM", cmd.Commands(), err)
		}
	}
}
