package memstore_test

import (
	"testing"

	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/memstore"
)

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
