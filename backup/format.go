package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"
)

// The file format, version 1. Integers are encoding/binary varints (uvarint
// unless marked signed); strings and byte slices are a uvarint length and
// the bytes.
//
//	header   "FCBK" version created(signed, unix ms) mode pattern redis-version
//	record   'K' key expire-at(unix ms, 0 = no expiry) payload(DUMP)
//	trailer  'E' record-count sha256
//
// The SHA-256 covers every byte before it, from the magic to the record
// count, and nothing may follow it.
const (
	// Magic opens every backup file.
	Magic = "FCBK"
	// Version is the format version that Writer writes and Reader reads.
	Version = 1

	// MaxKeyLen bounds the length of a key in a backup, in bytes.
	MaxKeyLen = 1 << 20
	// MaxPayloadLen bounds the length of one DUMP payload, in bytes: Redis's
	// default proto-max-bulk-len.
	MaxPayloadLen = 512 << 20
	// maxHeaderString bounds the strings of the header.
	maxHeaderString = 64 << 10
	// readChunk is how much a read of a long field allocates ahead of the
	// data it has seen, so that a corrupt length cannot allocate more than
	// the file holds.
	readChunk = 1 << 20

	tagRecord  = 'K'
	tagTrailer = 'E'
)

// Errors of reading a backup file. They are wrapped with what was wrong;
// branch with errors.Is.
var (
	// ErrNotBackup is returned when a file does not start with Magic.
	ErrNotBackup = errors.New("not a filecache backup file")
	// ErrVersion is returned when a file is of a format version this
	// package does not read.
	ErrVersion = errors.New("unsupported backup format version")
	// ErrTruncated is returned when a file ends before its trailer.
	ErrTruncated = errors.New("backup file is truncated")
	// ErrCorrupt is returned when a file's checksum, record count or a
	// field does not check out.
	ErrCorrupt = errors.New("backup file is corrupt")
)

// Header describes a backup.
type Header struct {
	// Version is the format version of the file.
	Version int
	// Created is when the backup started.
	Created time.Time
	// Mode is the Redis deployment the keys came from: "standalone",
	// "cluster" or "sentinel".
	Mode string
	// Pattern is the SCAN MATCH pattern that selected the keys.
	Pattern string
	// RedisVersion is the redis_version of the source, since a DUMP payload
	// can be restored only into the same or a newer Redis.
	RedisVersion string
}

// Record is one key of a backup.
type Record struct {
	// Key is the Redis key.
	Key string
	// ExpireAt is when the key expires; the zero Time means never.
	ExpireAt time.Time
	// Payload is the key's value serialized by DUMP.
	Payload []byte
}

// Writer writes a backup file: the header, then records, then on Close the
// trailer. It is not safe for concurrent use.
type Writer struct {
	bw    *bufio.Writer
	h     hash.Hash
	buf   []byte
	count int64
	err   error
}

// NewWriter writes the header h (its Version is ignored: Writer writes
// Version) to w and returns a Writer for the records.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	for _, s := range []string{h.Mode, h.Pattern, h.RedisVersion} {
		if len(s) > maxHeaderString {
			return nil, fmt.Errorf("backup: header field of %d bytes, at most %d", len(s), maxHeaderString)
		}
	}
	bw := &Writer{bw: bufio.NewWriterSize(w, 256<<10), h: sha256.New()}
	b := append(bw.buf[:0], Magic...)
	b = binary.AppendUvarint(b, Version)
	b = binary.AppendVarint(b, h.Created.UnixMilli())
	b = appendString(b, h.Mode)
	b = appendString(b, h.Pattern)
	b = appendString(b, h.RedisVersion)
	bw.buf = b
	if err := bw.write(b); err != nil {
		return nil, err
	}
	return bw, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	w.h.Write(b)
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("backup: write: %w", err)
	}
	return w.err
}

// Write appends one record.
func (w *Writer) Write(r Record) error {
	switch {
	case len(r.Key) > MaxKeyLen:
		return fmt.Errorf("backup: key of %d bytes, at most %d", len(r.Key), MaxKeyLen)
	case len(r.Payload) == 0 || len(r.Payload) > MaxPayloadLen:
		return fmt.Errorf("backup: %q: payload of %d bytes, want 1 to %d", r.Key, len(r.Payload), MaxPayloadLen)
	case !r.ExpireAt.IsZero() && r.ExpireAt.UnixMilli() <= 0:
		return fmt.Errorf("backup: %q: expiry %v before 1970", r.Key, r.ExpireAt)
	}
	var exp uint64
	if !r.ExpireAt.IsZero() {
		exp = uint64(r.ExpireAt.UnixMilli())
	}
	b := append(w.buf[:0], tagRecord)
	b = appendString(b, r.Key)
	b = binary.AppendUvarint(b, exp)
	b = binary.AppendUvarint(b, uint64(len(r.Payload)))
	w.buf = b
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.write(r.Payload); err != nil {
		return err
	}
	w.count++
	return nil
}

// Count returns how many records have been written.
func (w *Writer) Count() int64 { return w.count }

// Close writes the trailer and flushes. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	b := append(w.buf[:0], tagTrailer)
	b = binary.AppendUvarint(b, uint64(w.count))
	if err := w.write(b); err != nil {
		return err
	}
	if _, err := w.bw.Write(w.h.Sum(nil)); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	w.err = errors.New("backup: writer closed")
	return nil
}

// Reader reads a backup file record by record, hashing what it reads; Next
// returns io.EOF only after the trailer's record count and checksum have
// checked out. Records returned before an error are not verified yet: use
// Verify first to reject a damaged file before acting on any record.
// A Reader is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	h       hash.Hash
	pending []byte // bytes read but not hashed yet
	hdr     Header
	count   int64
	offset  int64
	part    string // what is being read, for errors: the header, record 3
	err     error
}

// NewReader reads and checks the header of a backup file.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 256<<10), h: sha256.New(), pending: make([]byte, 0, 64), part: "the header"}
	magic, err := rd.bytes("magic", len(Magic))
	if err != nil {
		if errors.Is(err, ErrTruncated) {
			return nil, fmt.Errorf("%w (%d bytes, shorter than the header)", ErrNotBackup, rd.offset)
		}
		return nil, err
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%w (it starts with %q, not %q)", ErrNotBackup, magic, Magic)
	}
	v, err := rd.uvarint("version")
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("%w %d (this build reads version %d)", ErrVersion, v, Version)
	}
	ux, err := rd.uvarint("creation time")
	if err != nil {
		return nil, err
	}
	created := int64(ux >> 1) // zig-zag, as binary.AppendVarint
	if ux&1 != 0 {
		created = ^created
	}
	rd.hdr = Header{Version: int(v), Created: time.UnixMilli(created)}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"mode", &rd.hdr.Mode}, {"pattern", &rd.hdr.Pattern}, {"redis version", &rd.hdr.RedisVersion}} {
		b, err := rd.lenBytes(f.name, 0, maxHeaderString)
		if err != nil {
			return nil, err
		}
		*f.dst = string(b)
	}
	return rd, nil
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.hdr }

// Count returns how many records Next has returned.
func (r *Reader) Count() int64 { return r.count }

// Offset returns how many bytes of the file have been read.
func (r *Reader) Offset() int64 { return r.offset }

// Next returns the next record, or io.EOF after a trailer that checks out.
// Any other error wraps ErrTruncated or ErrCorrupt (or is the underlying
// reader's), and is returned again by later calls.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
		return Record{}, err
	}
	r.count++
	return rec, nil
}

func (r *Reader) next() (Record, error) {
	r.part = fmt.Sprintf("record %d", r.count+1)
	tag, err := r.readByte()
	if err != nil {
		return Record{}, r.fail("tag", err)
	}
	switch tag {
	case tagTrailer:
		r.part = "the trailer"
		return Record{}, r.trailer()
	case tagRecord:
	default:
		return Record{}, fmt.Errorf("%w: unknown tag 0x%02x of %s at byte %d", ErrCorrupt, tag, r.part, r.offset-1)
	}
	key, err := r.lenBytes("key", 0, MaxKeyLen)
	if err != nil {
		return Record{}, err
	}
	exp, err := r.uvarint("expiry")
	if err != nil {
		return Record{}, err
	}
	if exp > 1<<62 {
		return Record{}, fmt.Errorf("%w: expiry %d of %s out of range at byte %d", ErrCorrupt, exp, r.part, r.offset)
	}
	payload, err := r.lenBytes("payload", 1, MaxPayloadLen)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Key: string(key), Payload: payload}
	if exp != 0 {
		rec.ExpireAt = time.UnixMilli(int64(exp))
	}
	return rec, nil
}

func (r *Reader) trailer() error {
	n, err := r.uvarint("record count")
	if err != nil {
		return err
	}
	r.flush()
	want := r.h.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.br, got); err != nil {
		return r.fail("checksum", err)
	}
	r.offset += int64(len(got))
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: SHA-256 mismatch (the file was altered or damaged)", ErrCorrupt)
	}
	if n != uint64(r.count) {
		return fmt.Errorf("%w: trailer counts %d records, the file holds %d", ErrCorrupt, n, r.count)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("backup: read: %w", err)
		}
		return fmt.Errorf("%w: data after the trailer at byte %d", ErrCorrupt, r.offset)
	}
	return io.EOF
}

// readByte reads one byte and hashes it.
func (r *Reader) readByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.offset++
	if len(r.pending) == cap(r.pending) {
		r.flush()
	}
	r.pending = append(r.pending, c)
	return c, nil
}

func (r *Reader) flush() {
	r.h.Write(r.pending)
	r.pending = r.pending[:0]
}

// bytes reads n bytes, allocating at most readChunk ahead of what it has
// read, so that a corrupt n fails with ErrTruncated before it allocates
// much more than the file holds.
func (r *Reader) bytes(what string, n int) ([]byte, error) {
	r.flush()
	var b []byte
	for len(b) < n {
		c := min(n-len(b), readChunk)
		b = slices.Grow(b, c)[:len(b)+c]
		m, err := io.ReadFull(r.br, b[len(b)-c:])
		r.offset += int64(m)
		r.h.Write(b[len(b)-c : len(b)-c+m])
		if err != nil {
			return nil, r.fail(what, err)
		}
	}
	return b, nil
}

// uvarint reads an unsigned varint like binary.ReadUvarint.
func (r *Reader) uvarint(what string) (uint64, error) {
	var v uint64
	for i, shift := 0, uint(0); i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		c, err := r.readByte()
		if err != nil {
			return 0, r.fail(what, err)
		}
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return v | uint64(c)<<shift, nil
		}
		v |= uint64(c&0x7f) << shift
	}
	return 0, fmt.Errorf("%w: %s of %s overflows 64 bits at byte %d", ErrCorrupt, what, r.part, r.offset)
}

func (r *Reader) lenBytes(what string, lo, hi uint64) ([]byte, error) {
	n, err := r.uvarint(what + " length")
	if err != nil {
		return nil, err
	}
	if n < lo || n > hi {
		return nil, fmt.Errorf("%w: %s length %d out of range [%d, %d] in %s at byte %d", ErrCorrupt, what, n, lo, hi, r.part, r.offset)
	}
	return r.bytes(what, int(n))
}

// fail translates a read error: an end of file means truncation.
func (r *Reader) fail(what string, err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: it ends at byte %d, in the %s of %s", ErrTruncated, r.offset, what, r.part)
	}
	return fmt.Errorf("backup: read: %w", err)
}
