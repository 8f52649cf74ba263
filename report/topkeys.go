package report

import (
	"cmp"
	"slices"
)

// TopKeys are the most accessed keys, when some source can tell.
type TopKeys struct {
	Available bool     `json:"available"`
	Source    string   `json:"source,omitempty"` // "cache", "OBJECT FREQ (sample)"
	Reason    string   `json:"reason,omitempty"` // why they are unavailable
	Keys      []HotKey `json:"keys,omitempty"`
}

// HotKey is one top key; Freq is the LFU counter of OBJECT FREQ (0 when
// the source gives no count).
type HotKey struct {
	Key  string `json:"key"`
	Freq int64  `json:"freq,omitempty"`
}

// topKeys lists the most accessed keys from the cache, or from OBJECT FREQ
// over the sample.
func topKeys(opts *Options, r *Redis, samples map[string]*sample) TopKeys {
	if opts.HotKeys != nil {
		keys := opts.HotKeys.HotKeys(opts.TopKeys)
		out := TopKeys{Available: true, Source: "cache"}
		for _, k := range keys {
			out.Keys = append(out.Keys, HotKey{Key: k})
		}
		return out
	}
	var hot []HotKey
	lfu := false
	for _, s := range samples {
		if s.freq == nil {
			continue
		}
		lfu = true
		for i, k := range s.names {
			if s.ttl[i] != -2 {
				hot = append(hot, HotKey{Key: k, Freq: s.freq[i]})
			}
		}
	}
	if !lfu {
		reason := "the cache does not track hot keys, and OBJECT FREQ needs an LFU maxmemory-policy (allkeys-lfu)"
		if r == nil {
			reason = "the cache does not track hot keys"
		}
		return TopKeys{Reason: reason}
	}
	slices.SortFunc(hot, func(a, b HotKey) int { return cmp.Or(cmp.Compare(b.Freq, a.Freq), cmp.Compare(a.Key, b.Key)) })
	if len(hot) > opts.TopKeys {
		hot = hot[:opts.TopKeys]
	}
	return TopKeys{Available: true, Source: "OBJECT FREQ (sample)", Keys: hot}
}
