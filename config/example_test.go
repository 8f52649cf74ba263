package config_test

import (
	"fmt"
	"strings"

	"github.com/filecache/filecache/config"
)

func ExampleLoad() {
	environ := map[string]string{
		"REDIS_URL":      "rediss://app:s3cret@cache.internal:6380/1",
		"CACHE_TTL_FILE": "2h",
	}
	lookupEnv := func(k string) (string, bool) { v, ok := environ[k]; return v, ok }

	cfg, err := config.Load([]string{"--listen-addr=:9090"}, lookupEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := cfg.Redis.Options // handed to redisstore as they are
	fmt.Println(cfg.HTTP.ListenAddr, cfg.Redis.Mode, r.Addrs, r.DB, r.TLS != nil)
	fmt.Println(cfg.Cache.TTLs.File, cfg.Cache.TTLs.Session) // zero: catalog's default
	fmt.Println(r.Password == "s3cret", strings.Contains(fmt.Sprintf("%v %+v", cfg, r), "s3cret"))
	// Output:
	// :9090 standalone [cache.internal:6380] 1 true
	// 2h0m0s 0s
	// true false
}

func ExampleLoad_errors() {
	environ := map[string]string{
		"REDIS_URL":      "http://app:s3cret@cache.internal",
		"CACHE_TTL_FILE": "abc",
	}
	lookupEnv := func(k string) (string, bool) { v, ok := environ[k]; return v, ok }

	_, err := config.Load(nil, lookupEnv)
	fmt.Println(err)
	// Output:
	// config: CACHE_TTL_FILE: "abc" is not a duration (e.g. 1h, 30m)
	// config: REDIS_URL: scheme must be redis or rediss, got "http://app:xxxxx@cache.internal"
}

func ExampleRedactURL() {
	fmt.Println(config.RedactURL("redis://app:s3cret@cache.internal:6379/0"))
	// Output: redis://app:xxxxx@cache.internal:6379/0
}
