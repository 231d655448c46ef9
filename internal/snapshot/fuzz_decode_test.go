package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// castagnoli is the checksum of a frame, computed here on its own.
func castagnoli(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// frameOracle says, from the format's description alone, whether data is
// a frame Decode must accept (ok), one it must refuse as of a newer
// version (newer), or neither; and for an accepted one the size of its
// header. It is written apart from parseHeader on purpose: the offsets
// come from the layout documented on the constants.
//
//	magic "HDKPISNP" | version u16 | flags u16 (none defined: 0) | seq u64 | taken u64 | length u64
//	  [version 2 and 3: | generation u64 | stream created u64]
//	| state (length bytes; version 3 may say all ones: up to the CRC) | CRC-32C of everything before it (u32)
//
// An intact frame with a flag set was written by a newer version.
func frameOracle(data []byte) (ok, newer bool, size int) {
	if len(data) < 8+2+4 || string(data[:8]) != "HDKPISNP" {
		return false, false, 0
	}
	body := data[:len(data)-4]
	if castagnoli(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return false, false, 0
	}
	v := binary.LittleEndian.Uint16(body[8:])
	switch v {
	case 1:
		size = 36
	case 2, 3:
		size = 52
	default:
		return false, v > 3, 0
	}
	if len(body) < size {
		return false, false, 0
	}
	if binary.LittleEndian.Uint16(body[10:]) != 0 {
		return false, true, 0
	}
	if n := binary.LittleEndian.Uint64(body[28:]); n != uint64(len(body)-size) && (v < 3 || n != ^uint64(0)) {
		return false, false, 0
	}
	return true, false, size
}

// decodeSeeds are real frames: Encode's of several headers and states, a
// version 1 frame, and one of a newer version.
func decodeSeeds() [][]byte {
	created := time.Date(2026, 11, 23, 8, 0, 0, 123, time.UTC)
	out := [][]byte{
		Encode(Snapshot{}),
		Encode(snap(1, "")),
		Encode(snap(42, "state")),
		Encode(Snapshot{Header: Header{Seq: 1 << 40, TakenAt: time.Unix(0, -1), Generation: 7, StreamCreated: created},
			State: bytes.Repeat([]byte{0xF2, 0x00, 0x80}, 100)}),
		encodeV1(500, time.Unix(1_700_000_000, 0), "v1 at 500"),
		encodeV1(0, time.Time{}, ""),
	}
	newer := Encode(snap(9, "from the future"))
	binary.LittleEndian.PutUint16(newer[8:], Version+1)
	binary.LittleEndian.PutUint32(newer[len(newer)-4:], castagnoli(newer[:len(newer)-4]))
	return append(out, newer)
}

// FuzzDecode feeds Decode arbitrary bytes, twice: as they are, and sealed
// with a correct checksum (so that the fuzzer reaches the header checks
// behind the CRC, which it could hardly forge). Decode must never panic;
// it must accept exactly the frames frameOracle calls valid; and a valid
// frame must round-trip: a version 2 frame re-encodes (Encode) to exactly
// its bytes, a version 1 frame to a version 2 frame of the same contents.
//
// testdata/fuzz/FuzzDecode holds what it found, now fixed:
//
//   - flags-set-accepted: the flags field (bytes 10 and 11, "none yet")
//     was not checked: an intact frame with flags set was accepted as if
//     they were 0. It is now refused as written by a newer version.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s)
		f.Add(s[:len(s)-4]) // the body alone: sealed by the second pass
		f.Add(s[:len(s)/2])
		m := bytes.Clone(s)
		m[len(m)/2] ^= 0x10
		f.Add(m)
	}
	f.Add([]byte{})
	f.Add([]byte(magic))

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		sealed := binary.LittleEndian.AppendUint32(bytes.Clone(data), castagnoli(data))
		checkDecode(t, sealed)
	})
}

func checkDecode(t *testing.T, data []byte) {
	orig := bytes.Clone(data)
	s, err := Decode(data)
	require.Equal(t, orig, data, "Decode must not modify its input")
	ok, newer, size := frameOracle(data)
	if !ok {
		require.Error(t, err, "Decode accepted an invalid frame")
		require.Equal(t, newer, errors.Is(err, ErrNewerVersion), "ErrNewerVersion exactly for an intact frame of a newer version: %v", err)
		return
	}
	require.NoError(t, err, "Decode refused a valid frame")
	body := data[:len(data)-4]
	require.Equal(t, body[size:], s.State, "the state is what follows the header")
	require.Equal(t, binary.LittleEndian.Uint16(data[8:]), s.Version)
	require.Equal(t, binary.LittleEndian.Uint64(data[12:]), s.Seq)
	require.Equal(t, int64(binary.LittleEndian.Uint64(data[20:])), s.TakenAt.UnixNano())

	again := Encode(s)
	if s.Version == Version && binary.LittleEndian.Uint64(data[28:]) != ^uint64(0) {
		require.Equal(t, data, again, "a valid frame must re-encode to exactly its bytes")
		return
	}
	// An older version, or a streamed one (length left to the checksum):
	// read again as the frame it re-encodes to.
	s2, err := Decode(again)
	require.NoError(t, err)
	require.Equal(t, uint16(Version), s2.Version)
	require.Equal(t, s.Seq, s2.Seq)
	require.True(t, s.TakenAt.Equal(s2.TakenAt))
	require.Equal(t, s.Generation, s2.Generation)
	require.Equal(t, s.StreamCreated.UnixNano(), s2.StreamCreated.UnixNano())
	require.Equal(t, s.State, s2.State)
}

// TestDecodeSeeds checks that the fuzz seeds are what they claim to be.
func TestDecodeSeeds(t *testing.T) {
	seeds := decodeSeeds()
	for i, s := range seeds[:len(seeds)-1] {
		ok, _, _ := frameOracle(s)
		require.True(t, ok, "seed %d", i)
		checkDecode(t, s)
	}
	_, err := Decode(seeds[len(seeds)-1])
	require.ErrorIs(t, err, ErrNewerVersion)
}
