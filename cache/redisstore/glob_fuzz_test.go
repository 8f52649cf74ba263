package redisstore_test

import (
	"slices"
	"testing"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/redis/rueidis"
)

// FuzzMatchGlobRedis holds cache.MatchGlob, the glob matcher of memstore's
// pattern deletes, against a real redis-server's KEYS: for any pattern and
// key the two agree, so a pattern deletes the same keys on either store.
// The seeds are the corner cases that once disagreed.
func FuzzMatchGlobRedis(f *testing.F) {
	for _, seed := range [][2]string{
		{"[a!-]b", "a"}, {"[--]]", "-"}, {"*", ""}, {"**", ""}, {"[abc", "b"}, {`[\]]`, "]"},
		{"[^", "x"}, {`a\`, `a\`}, {"h[c-a]llo", "hbllo"}, {"[\x80-\xff]", "\x90"}, {"[\x01-\xff]", "a"},
		{"a*b*c", "axxbyyc"}, {"*a*", "bab"}, {"?", ""}, {"[]", "]"}, {"[]]", "]"}, {"[-a]", "-"},
		{"\\", "\\"}, {"[\\", "\\"}, {"[a-", "a"}, {"[a-]", "-"}, {"x[^]]y", "x]y"}, {"*?*", "ab"},
	} {
		f.Add(seed[0], seed[1])
	}
	srv := redistest.Standalone(f)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(client.Close)
	f.Fuzz(func(t *testing.T, pattern, key string) {
		if len(pattern) > 64 || len(key) > 64 {
			t.Skip("long inputs: Redis' matcher is exponential in the stars")
		}
		ctx := t.Context()
		if err := client.Do(ctx, client.B().Set().Key(key).Value("v").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		defer client.Do(ctx, client.B().Del().Key(key).Build())
		keys, err := client.Do(ctx, client.B().Keys().Pattern(pattern).Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Contains(keys, key)
		if got := cache.MatchGlob(pattern, key); got != want {
			t.Fatalf("MatchGlob(%q, %q) = %v, Redis KEYS says %v", pattern, key, got, want)
		}
	})
}
