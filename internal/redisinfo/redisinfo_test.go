package redisinfo_test

import (
	"testing"

	"github.com/filecache/filecache/internal/redisinfo"
)

const sample = "# Server\r\nredis_version:7.0.15\r\nrole:master\r\n\r\n# Clients\r\nconnected_clients:3\r\n" +
	"# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_fragmentation_ratio:1.25\r\n" +
	"# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:5\r\nevicted_keys:0\r\n" +
	"# Keyspace\r\ndb0:keys=12,expires=10,avg_ttl=3000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\nbogus line\r\n"

func TestParse(t *testing.T) {
	info := redisinfo.Parse(sample)
	for key, want := range map[string]int64{"connected_clients": 3, "used_memory": 1 << 20, "maxmemory": 0, "keyspace_hits": 10, "keyspace_misses": 5} {
		if got, ok := info.Int(key); !ok || got != want {
			t.Errorf("Int(%q) = %d, %v; want %d", key, got, ok, want)
		}
	}
	if got := info["maxmemory_policy"]; got != "noeviction" {
		t.Errorf("maxmemory_policy = %q", got)
	}
	if got, ok := info.Float("mem_fragmentation_ratio"); !ok || got != 1.25 {
		t.Errorf("Float(mem_fragmentation_ratio) = %v, %v", got, ok)
	}
	if _, ok := info.Int("redis_version"); ok {
		t.Error("Int(redis_version) ok; want not a number")
	}
	if _, ok := info.Int("absent"); ok {
		t.Error("Int(absent) ok")
	}
	if info.Role() != "master" {
		t.Errorf("Role = %q", info.Role())
	}
	if keys, expires := info.Keys(); keys != 13 || expires != 10 {
		t.Errorf("Keys = %d, %d; want 13, 10", keys, expires)
	}
}
