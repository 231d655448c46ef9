// Package snapfmt is the byte-level encoding of snapshots: appenders for
// varints and fixed-width integers, and a Reader that keeps the first error
// so that a decoder reads a whole record and checks once.
//
// It knows nothing of what is stored; the packages that own state encode
// themselves with it, and package snapshot frames, checksums and stores the
// result.
package snapfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errTruncated is recorded when the input ends inside a value.
var errTruncated = errors.New("snapshot data truncated or corrupt")

// AppendUvarint appends v as an unsigned varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends v as a signed (zig-zag) varint.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendU32 appends v in 4 bytes, little-endian.
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendU64 appends v in 8 bytes, little-endian.
func AppendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// AppendString appends a length-prefixed string.
func AppendString(b []byte, s string) []byte { return append(AppendUvarint(b, uint64(len(s))), s...) }

// Reader decodes values in the order they were appended. After the first
// error every read returns zero; Err reports it.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an error is already recorded, and drops what is
// unread: every read after it returns zero, so a decoder that goes on
// reading a corrupt record cannot loop on garbage counts.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) }

func (r *Reader) truncated() {
	if r.err == nil {
		r.err = errTruncated
	}
	r.b = nil
}

// Uvarint reads an unsigned varint, in the shortest form, as the
// appenders write it: a longer one (80 00 for 0, say) is corrupt.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.truncated()
		return 0
	}
	if n > 1 && r.b[n-1] == 0 {
		r.Fail("varint in a longer form than written: corrupt")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint, in the shortest form.
func (r *Reader) Varint() int64 {
	u := r.Uvarint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.Varint
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) < 1 {
		r.truncated()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// U32 reads a little-endian uint32.
func (r *Reader) U32() uint32 {
	if len(r.b) < 4 {
		r.truncated()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// U64 reads a little-endian uint64.
func (r *Reader) U64() uint64 {
	if len(r.b) < 8 {
		r.truncated()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// Count reads a length and checks that at least min bytes per item remain,
// so corrupt input cannot make a decoder allocate without bound.
func (r *Reader) Count(minBytesPerItem int) int {
	n := r.Uvarint()
	if r.err == nil && n > uint64(len(r.b)/max(minBytesPerItem, 1)) {
		r.truncated()
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte string; it aliases the input.
func (r *Reader) Bytes() []byte {
	n := r.Count(1)
	if r.err != nil {
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes()) }
