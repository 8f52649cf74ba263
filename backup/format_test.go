package backup_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/filecache/filecache/backup"
	"github.com/google/go-cmp/cmp"
)

var testRecords = []backup.Record{
	{Key: "fc:file:1", Payload: []byte("\x00\x03abc\x0b\x00\x01\x02\x03\x04\x05\x06\x07\x08")},
	{Key: "fc:file:2", ExpireAt: time.UnixMilli(1_900_000_000_123), Payload: bytes.Repeat([]byte{0xff, 0}, 300)},
	{Key: "", Payload: []byte{1}},
}

var testHeader = backup.Header{
	Created:      time.UnixMilli(1_750_000_000_000),
	Mode:         "cluster",
	Pattern:      "fc:*",
	RedisVersion: "7.0.15",
}

// tinyBackup returns a valid backup file of testRecords.
func tinyBackup(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range testRecords {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads the records of r up to the end.
func readAll(t *testing.T, r *backup.Reader) []backup.Record {
	t.Helper()
	var recs []backup.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

func TestBackupFormatRoundTrip(t *testing.T) {
	data := tinyBackup(t)
	r, err := backup.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := testHeader
	want.Version = backup.Version
	if diff := cmp.Diff(want, r.Header()); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	got := readAll(t, r)
	if diff := cmp.Diff(testRecords, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	_, st, err := backup.Verify(bytes.NewReader(data))
	if err != nil || st.Records != int64(len(testRecords)) || st.Bytes != int64(len(data)) {
		t.Errorf("Verify = %+v, %v; want %d records, %d bytes", st, err, len(testRecords), len(data))
	}
}

// damaged returns variants of a valid backup that Verify must reject, with
// the errors they may be rejected with.
func damaged(data []byte) []struct {
	name string
	data []byte
	want []error
} {
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(data)) }
	trunc := []error{backup.ErrTruncated, backup.ErrNotBackup}
	cases := []struct {
		name string
		data []byte
		want []error
	}{
		{"empty", nil, trunc},
		{"wrong magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), []error{backup.ErrNotBackup}},
		{"wrong version", mod(func(b []byte) []byte { b[4] = 2; return b }), []error{backup.ErrVersion}},
		{"flipped byte in the middle", mod(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), []error{backup.ErrCorrupt, backup.ErrTruncated}},
		{"flipped checksum byte", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), []error{backup.ErrCorrupt}},
		{"data after the trailer", mod(func(b []byte) []byte { return append(b, 0) }), []error{backup.ErrCorrupt}},
	}
	for _, n := range []int{1, 3, 4, 5, 12, len(data) / 3, len(data) / 2, len(data) - 33, len(data) - 32, len(data) - 1} {
		cases = append(cases, struct {
			name string
			data []byte
			want []error
		}{"truncated at " + strconv.Itoa(n), data[:n], trunc})
	}
	return cases
}

func TestBackupVerifyRejectsDamaged(t *testing.T) {
	for _, tc := range damaged(tinyBackup(t)) {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := backup.Verify(bytes.NewReader(tc.data))
			if !isAny(err, tc.want) {
				t.Fatalf("Verify = %v, want one of %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// A corrupt length must not make the reader allocate what it claims.
func TestBackupReadHugeLength(t *testing.T) {
	var buf bytes.Buffer
	w, _ := backup.NewWriter(&buf, testHeader)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The header without the trailer ('E', count 0, SHA-256), then a record
	// whose payload claims MaxPayloadLen bytes and has 10.
	b := buf.Bytes()[:buf.Len()-34]
	b = append(b, 'K', 1, 'k', 0)
	b = appendUvarint(b, backup.MaxPayloadLen)
	b = append(b, make([]byte, 10)...)
	allocs := allocated(func() {
		_, _, err := backup.Verify(bytes.NewReader(b))
		if !errors.Is(err, backup.ErrTruncated) {
			t.Errorf("Verify = %v, want ErrTruncated", err)
		}
	})
	if allocs > 8<<20 {
		t.Errorf("Verify allocated %d bytes for a file of %d", allocs, len(b))
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzRead(f *testing.F) {
	data := tinyBackup(f)
	f.Add(data)
	for _, tc := range damaged(data) {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		allocs := allocated(func() {
			h, st, err := backup.Verify(bytes.NewReader(data))
			if err == nil && (h.Version != backup.Version || st.Bytes != int64(len(data))) {
				t.Errorf("Verify accepted %d bytes as %+v, %+v", len(data), h, st)
			}
		})
		// Two 256 KiB buffers, one read chunk of 1 MiB (at most doubled by
		// growth) and a few copies of the data itself.
		if limit := uint64(4<<20 + 8*len(data)); allocs > limit {
			t.Errorf("Verify of %d bytes allocated %d bytes, more than %d", len(data), allocs, limit)
		}
	})
}
