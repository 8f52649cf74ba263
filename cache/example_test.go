package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
)

type File struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// A Family is typed cache-aside over one key family. GetOrLoad calls the
// loader on a miss only, and concurrent misses share one load.
func Example() {
	ctx := context.Background()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		panic(err)
	}
	c, err := cache.New(store, cache.Options{Prefix: "app:"})
	if err != nil {
		panic(err)
	}
	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[File]{TTL: time.Hour})
	if err != nil {
		panic(err)
	}
	load := func(ctx context.Context, id string) (File, error) {
		fmt.Println("loading", id)
		return File{ID: id, Name: "report.pdf", Size: 12345}, nil
	}
	for range 2 {
		f, err := files.GetOrLoad(ctx, "42", load)
		if err != nil {
			panic(err)
		}
		fmt.Println(f.Name)
	}
	key, _ := files.Key("42")
	fmt.Println(key)
	st := c.Stats()[0]
	fmt.Printf("%s: %d hit, %d miss\n", st.Family, st.Hits, st.Misses)
	// Output:
	// loading 42
	// report.pdf
	// report.pdf
	// app:file:42
	// file: 1 hit, 1 miss
}

// A loader's ErrNotFound is cached for NegativeTTL, so lookups of ids that
// do not exist stop reaching the database.
func ExampleFamilyOptions_negativeTTL() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	c, _ := cache.New(store, cache.Options{})
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{NegativeTTL: 30 * time.Second})
	missing := func(ctx context.Context, id string) (File, error) {
		fmt.Println("query", id)
		return File{}, cache.ErrNotFound
	}
	for range 3 {
		_, err := files.GetOrLoad(ctx, "nope", missing)
		fmt.Println(err)
	}
	// Output:
	// query nope
	// cache: not found
	// cache: not found
	// cache: not found
}

// TTLFunc gives each value its own TTL: here big files are kept longer.
func ExampleFamilyOptions_ttlFunc() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := cache.New(store, cache.Options{Jitter: -1}) // no jitter, for the example
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{
		TTL: time.Hour,
		TTLFunc: func(f File) time.Duration {
			if f.Size > 1<<30 {
				return 6 * time.Hour
			}
			return 0 // the family TTL
		},
	})
	fmt.Println(files.TTLOf(File{Size: 10}))
	fmt.Println(files.TTLOf(File{Size: 2 << 30}))
	// Output:
	// 1h0m0s
	// 6h0m0s
}

// User-supplied text in a pattern is escaped, so it can never widen a
// delete: "dir*" removes the files under "dir*/" and not those under "dir/".
func ExampleFamily_DeletePattern() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	c, _ := cache.New(store, cache.Options{})
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{})
	for _, id := range []string{"dir/a", "dir/b", "dir*/a"} {
		_ = files.Set(ctx, id, File{ID: id})
	}
	n, _ := files.DeletePattern(ctx, cache.EscapeGlob("dir*")+"/*")
	fmt.Println(n, "deleted")
	// Output:
	// 1 deleted
}

func ExampleKeyspace_Key() {
	ks := cache.Keyspace{Prefix: "app:", MaxPart: 16}
	k, _ := ks.Key("user", "203.0.113.7")
	fmt.Println(k)
	k, _ = ks.Key("search", "a query longer than sixteen bytes")
	fmt.Println(k[:20] + "…")
	_, err := ks.Key("file", "")
	fmt.Println(err)
	// Output:
	// app:user:203.0.113.7
	// app:search:#90d58f2e…
	// cache: invalid key: empty part
}
