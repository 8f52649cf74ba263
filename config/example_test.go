package config_test

import (
	"fmt"

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
	fmt.Println(cfg.HTTP.ListenAddr, cfg.RedisMode(), cfg.Redis.Addrs, cfg.Redis.DB, cfg.Redis.TLS)
	fmt.Println(cfg.Cache.TTLFile, cfg.Cache.TTLSession)
	fmt.Println(cfg.Redis.Password, cfg.Redis.Password.Reveal())
	// Output:
	// :9090 standalone [cache.internal:6380] 1 true
	// 2h0m0s 30m0s
	// [redacted] s3cret
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
