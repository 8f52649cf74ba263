package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// A tag's index is a sorted set of member keys scored by when the store
// drops them (server time, unix ms). Adding prunes the members past their
// time, so the index follows the live keys; the index's own TTL is its
// latest member's, so it never ends before them. A key of another type at
// the index's name is foreign: it is deleted, never an outage.

// addToTag adds ARGV[2..] to the index KEYS[1], each kept ARGV[1] ms from
// the server's clock; it returns 1 if it removed a foreign value first.
var addToTag = rueidis.NewLuaScript(`
local foreign = 0
local t = redis.call("TYPE", KEYS[1])["ok"]
if t ~= "zset" and t ~= "none" then
	redis.call("DEL", KEYS[1])
	foreign = 1
end
local now = redis.call("TIME")
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[1])
local args = {"GT"}
for i = 2, #ARGV do
	args[#args + 1] = ms + ttl
	args[#args + 1] = ARGV[i]
end
redis.call("ZADD", KEYS[1], unpack(args))
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ms)
if redis.call("PTTL", KEYS[1]) < ttl then
	redis.call("PEXPIRE", KEYS[1], ttl)
end
return foreign`)

// stageTag moves the members of the index KEYS[1] into its draining set
// KEYS[2] (same slot: the index key holds a hash tag), merging with what an
// earlier, interrupted invalidation left there, prunes what expired, and
// returns the number of members to drain. Repeating it is harmless.
var stageTag = rueidis.NewLuaScript(`
for i = 1, 2 do
	local t = redis.call("TYPE", KEYS[i])["ok"]
	if t ~= "zset" and t ~= "none" then
		redis.call("DEL", KEYS[i])
	end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
	redis.call("ZUNIONSTORE", KEYS[2], 2, KEYS[2], KEYS[1], "AGGREGATE", "MAX")
	redis.call("DEL", KEYS[1])
end
local now = redis.call("TIME")
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", "(" .. ms)
local last = redis.call("ZRANGE", KEYS[2], -1, -1, "WITHSCORES")
if #last == 0 then
	return 0
end
redis.call("PEXPIREAT", KEYS[2], math.floor(tonumber(last[2])))
return redis.call("ZCARD", KEYS[2])`)

// addToTagBatch is the most keys one addToTag script adds (Lua cannot
// unpack many more arguments).
const addToTagBatch = 1000

// drainingSuffix names the set a tag invalidation drains, beside the index.
const drainingSuffix = ":draining"

// AddToTag implements cache.Tagger, in scripts of at most addToTagBatch
// keys, pipelined. Retrying is safe: adding twice is adding once.
func (s *Store) AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	var execs []rueidis.LuaExec
	for chunk := range slices.Chunk(keys, addToTagBatch) {
		args := make([]string, 0, len(chunk)+1)
		args = append(append(args, ms), chunk...)
		execs = append(execs, rueidis.LuaExec{Keys: []string{tagKey}, Args: args})
	}
	return s.attempt(ctx, true, func(ctx context.Context) error {
		for _, r := range addToTag.ExecMulti(ctx, s.client, execs...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTag implements cache.Tagger. The index is moved aside into its
// draining set in one script (so members added meanwhile start a new
// index), then drained in batches: read members, UNLINK them wherever they
// live, remove them from the set. Every step is idempotent, so a timed-out
// attempt that the server still ran, or a retry of the whole call, deletes
// the same keys again and loses none: a member leaves the set only after
// its key was deleted.
func (s *Store) DeleteTag(ctx context.Context, tagKey string) (int, error) {
	draining := tagKey + drainingSuffix
	var staged int64
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		var err error
		staged, err = stageTag.Exec(ctx, s.client, []string{tagKey, draining}, nil).AsInt64()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete tag %s: %w", tagKey, err)
	}
	if staged == 0 {
		// Nothing to drain: the common case of a tag invalidated at every
		// write (the searches of "files") saves a round trip.
		return 0, nil
	}
	total := 0
	for {
		var members []string
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			var err error
			members, err = s.client.Do(ctx, s.cmd().Zrange().Key(draining).Min("0").Max(strconv.Itoa(s.opts.DeleteBatch-1)).Build()).AsStrSlice()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("redisstore: delete tag %s: %w", tagKey, err)
		}
		if len(members) == 0 {
			return total, nil
		}
		n, err := s.Delete(ctx, members...)
		total += n
		if err == nil {
			err = s.attempt(ctx, true, func(ctx context.Context) error {
				return s.client.Do(ctx, s.cmd().Zrem().Key(draining).Member(members...).Build()).Error()
			})
		}
		if err != nil {
			return total, fmt.Errorf("redisstore: delete tag %s: %w", tagKey, err)
		}
	}
}

// TagSize returns the number of members of the index at tagKey (and of its
// draining set), for tests of its bound and operators.
func (s *Store) TagSize(ctx context.Context, tagKey string) (int, error) {
	var n int
	for _, k := range []string{tagKey, tagKey + drainingSuffix} {
		c, err := s.client.Do(ctx, s.cmd().Zcard().Key(k).Build()).AsInt64()
		if err != nil {
			return 0, err
		}
		n += int(c)
	}
	return n, nil
}
