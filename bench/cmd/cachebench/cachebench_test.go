package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"

	"github.com/filecache/filecache/files"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"--redis", "127.0.0.1:6380"}},
		{args: []string{"--start-redis", "--scenarios", "near,stampede"}},
		{args: nil, wantErr: "required"},
		{args: []string{"--redis", "x:1", "--start-redis"}, wantErr: "exclude"},
		{args: []string{"--start-redis", "--scenarios", "nope"}, wantErr: "unknown scenario"},
		{args: []string{"--start-redis", "--json", "--markdown"}, wantErr: "exclude"},
		{args: []string{"--start-redis", "--batch", "2000"}, wantErr: "--batch"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseFlags(tt.args, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("parseFlags: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("parseFlags error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6379": true, "localhost:6379": true, "[::1]:6379": true,
		"10.0.0.1:6379": false, "example.com:6379": false, "127.0.0.1": false,
	} {
		if err := loopback(addr); (err == nil) != ok {
			t.Errorf("loopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestRatiosAndTable(t *testing.T) {
	rs := withRatios([]result{
		{Scenario: "s", Library: "a", Ops: 10, OpsPerSec: 300, P50: 1500, P99: 2_500_000},
		{Scenario: "s", Library: "b", Ops: 10, OpsPerSec: 100, Ref: true},
		{Scenario: "s", Library: "c", Notes: "failed: x"},
	})
	if rs[0].Ratio != 3 || rs[1].Ratio != 1 || rs[2].Ratio != 0 {
		t.Fatalf("ratios = %v %v %v, want 3 1 0", rs[0].Ratio, rs[1].Ratio, rs[2].Ratio)
	}
	rep := &report{Results: rs}
	var text, md, js bytes.Buffer
	if err := rep.writeText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3.00x", "1.00x (ref)", "1.5µs", "2.5ms", "failed: x"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text table lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "| s | **b** |") {
		t.Errorf("markdown table does not mark the reference:\n%s", md.String())
	}
	var back report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != 3 {
		t.Errorf("JSON round trip: %v, %d results", err, len(back.Results))
	}
}

func TestDatasetShape(t *testing.T) {
	ids, vals := dataset(3)
	for i, v := range vals {
		if err := files.ValidateID(ids[i]); err != nil {
			t.Errorf("id %q: %v", ids[i], err)
		}
		b, _ := json.Marshal(v)
		if n := len(b); n < 250 || n > 400 {
			t.Errorf("value %d is %d bytes of JSON, want about 300", i, n)
		}
	}
}

// BenchmarkDecode compares the decode every Redis hit pays: filecache and
// the raw clients decode JSON; go-redis/cache decodes s2-compressed msgpack.
func BenchmarkDecode(b *testing.B) {
	_, vals := dataset(1)
	v := vals[0]
	v.CreatedAt = v.CreatedAt.Add(123456 * time.Microsecond)
	js, _ := json.Marshal(v)
	gc := gocache.New(&gocache.Options{})
	mp, _ := gc.Marshal(&v)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out files.FileMetadata
			if err := json.Unmarshal(js, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-redis-cache-msgpack-s2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out files.FileMetadata
			if err := gc.Unmarshal(mp, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
