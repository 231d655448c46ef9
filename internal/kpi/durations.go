package kpi

import (
	"maps"
	"math"
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/snapfmt"
)

// numDurationBuckets is the number of classic buckets of the cumulative
// duration histograms.
const numDurationBuckets = 13

// durationBoundsMs returns the bucket upper bounds in milliseconds: from
// one minute to seven days.
func durationBoundsMs() [numDurationBuckets]int64 {
	const minute, hour = 60_000, 3_600_000
	return [...]int64{
		minute, 5 * minute, 15 * minute, 30 * minute,
		hour, 2 * hour, 4 * hour, 8 * hour, 12 * hour,
		24 * hour, 48 * hour, 72 * hour, 168 * hour,
	}
}

// DurationBuckets returns the upper bounds, in seconds, of the classic
// buckets of the cumulative first reply and resolution histograms.
func DurationBuckets() []float64 {
	b := durationBoundsMs()
	s := make([]float64, len(b))
	for i, ms := range b {
		s[i] = float64(ms) / 1000
	}
	return s
}

// NativeSchema is the schema of the native histogram buckets: 2^(2^-3),
// about 9% wide. NativeZeroThreshold (seconds) bounds the zero bucket.
const (
	NativeSchema        = 3
	NativeZeroThreshold = 1e-3
)

// durationHist is a cumulative histogram of durations in milliseconds:
// classic bucket counts (not cumulative across buckets; the last slot
// counts what exceeds every bound), native bucket counts by index, the
// sample count and sum.
type durationHist struct {
	buckets [numDurationBuckets + 1]int64
	native  map[int]int64
	zero    int64 // native zero bucket
	count   int64
	sumMs   int64
}

func (h *durationHist) observe(ms, sign int64) {
	i := 0
	for _, ub := range durationBoundsMs() {
		if ms <= ub {
			break
		}
		i++
	}
	h.buckets[i] += sign
	h.count += sign
	h.sumMs += sign * ms
	if secs := float64(ms) / 1000; secs <= NativeZeroThreshold {
		h.zero += sign
	} else {
		if h.native == nil {
			h.native = map[int]int64{}
		}
		// Bucket i holds (2^((i-1)/8), 2^(i/8)].
		h.native[int(math.Ceil(math.Log2(secs)*(1<<NativeSchema)))] += sign
	}
}

func (h *durationHist) appendBinary(b []byte) []byte {
	b = appendInts(b, h.buckets[:])
	b = snapfmt.AppendVarint(b, h.zero)
	b = snapfmt.AppendVarint(b, h.count)
	b = snapfmt.AppendVarint(b, h.sumMs)
	b = snapfmt.AppendUvarint(b, uint64(len(h.native)))
	for _, k := range slices.Sorted(maps.Keys(h.native)) {
		b = snapfmt.AppendVarint(b, int64(k))
		b = snapfmt.AppendVarint(b, h.native[k])
	}
	return b
}

func (h *durationHist) readBinary(r *snapfmt.Reader) {
	readInts(r, h.buckets[:])
	h.zero, h.count, h.sumMs = r.Varint(), r.Varint(), r.Varint()
	if n := r.Count(2); n > 0 {
		h.native = make(map[int]int64, n)
		for range n {
			k := r.Varint()
			h.native[int(k)] = r.Varint()
		}
	}
}
