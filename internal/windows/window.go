// Package windows holds sliding time windows keyed by event time.
//
// A Window splits its width into panes (at most 1/60 of the width each) and
// keeps a running total of the panes that cover "now". Adding to a pane
// updates the running total in O(1); when time moves on, the pane that falls
// out is subtracted from the total, so reading a windowed value never merges
// panes. Counters are int64 (durations are summed as integer milliseconds),
// so subtraction is exact. Histograms use fixed log-spaced bins (DDSketch's
// logarithmic mapping, 1% relative accuracy), which can be subtracted as
// well; see Bins.
//
// The package is pure: nothing here reads the clock. Callers pass event
// times and "now" as Unix nanoseconds. A Window is not safe for concurrent
// use; its owner serialises access.
package windows

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Spec describes one sliding window.
type Spec struct {
	// Width is the length of the window, for example time.Hour.
	Width time.Duration
	// Panes is the number of panes the width is split into; 60 when zero.
	Panes int
	// Ahead is how far past now an event may lie and still be kept, for
	// events stamped by clocks slightly ahead of ours. Such an event
	// enters the totals when now reaches its pane.
	Ahead time.Duration
}

// Layout says how many counters and histograms every pane of a window holds.
type Layout struct {
	Counters int
	Hists    int
	// Expand appends to dst the histograms that one observation of group
	// goes to. A group stands for several histograms (say, one per
	// breakdown of an event), so a pane records one entry per
	// observation, not one per histogram.
	Expand func(group uint32, dst []int) []int
}

// Window is a sliding window over panes of fixed width.
type Window struct {
	width     int64 // ns
	paneWidth int64 // ns
	n         int64 // panes covering the window, the current one included
	bins      *Bins
	expand    func(group uint32, dst []int) []int
	scratch   []int // expanded histogram indices
	ring      []pane
	head      int64 // index of the pane that contains now

	counters []int64  // running totals over panes head-n+1 … head
	hists    []uint32 // running bin counts, Hists × bins.Len()
	histN    []int64  // running sample count per histogram
}

// pane is one slot of the ring. A slot holds pane index, or nothing when
// index is noPane.
type pane struct {
	index    int64
	counters []int64
	// dirty has a bit set for every counter an Add touched, so that
	// merging and clearing a pane visit those only: a pane holds a few
	// events' counters out of thousands.
	dirty   []uint64
	samples []sample // histogram observations, replayed on entry and eviction
}

// touch marks counter i of p as possibly non-zero.
func (p *pane) touch(i int) { p.dirty[i>>6] |= 1 << (i & 63) }

// each calls f with every counter of p that may be non-zero.
func (p *pane) each(f func(i int, c int64)) {
	for wi, word := range p.dirty {
		for word != 0 {
			i := wi<<6 + bits.TrailingZeros64(word)
			word &= word - 1
			f(i, p.counters[i])
		}
	}
}

// clear empties p.
func (p *pane) clear() {
	p.each(func(i int, _ int64) { p.counters[i] = 0 })
	clear(p.dirty)
	p.samples = p.samples[:0]
	p.index = noPane
}

// sample is one histogram observation recorded in a pane, in four bytes:
// the group in the top 20 bits, then a bit set for a taken-back
// observation, then the bin in the low 11 bits.
type sample uint32

const (
	// MaxGroup is the largest observation group.
	MaxGroup  = 1<<20 - 1
	binBits   = 11
	retracted = 1 << binBits
)

func newSample(group uint32, bin int, delta int) sample {
	s := sample(group<<(binBits+1) | uint32(bin))
	if delta < 0 {
		s |= retracted
	}
	return s
}

func (s sample) group() uint32 { return uint32(s) >> (binBits + 1) }
func (s sample) bin() int      { return int(s & (1<<binBits - 1)) }
func (s sample) delta() int64 {
	if s&retracted != 0 {
		return -1
	}
	return 1
}

const noPane = math.MinInt64

// New returns an empty window whose current pane contains now.
func New(spec Spec, layout Layout, bins *Bins, now int64) (*Window, error) {
	panes := spec.Panes
	if panes == 0 {
		panes = 60
	}
	if spec.Width <= 0 {
		return nil, fmt.Errorf("window width %v: must be positive", spec.Width)
	}
	if panes < 1 || spec.Width%time.Duration(panes) != 0 {
		return nil, fmt.Errorf("window %v: cannot split into %d equal panes", spec.Width, panes)
	}
	if spec.Ahead < 0 {
		return nil, fmt.Errorf("window %v: ahead %v must not be negative", spec.Width, spec.Ahead)
	}
	paneWidth := int64(spec.Width) / int64(panes)
	ahead := (int64(spec.Ahead) + paneWidth - 1) / paneWidth
	w := &Window{
		width:     int64(spec.Width),
		paneWidth: paneWidth,
		n:         int64(panes),
		bins:      bins,
		expand:    layout.Expand,
		ring:      make([]pane, int64(panes)+ahead),
		head:      floorDiv(now, paneWidth),
		counters:  make([]int64, layout.Counters),
		hists:     make([]uint32, layout.Hists*bins.Len()),
		histN:     make([]int64, layout.Hists),
	}
	for i := range w.ring {
		w.ring[i] = pane{index: noPane, counters: make([]int64, layout.Counters), dirty: make([]uint64, (layout.Counters+63)/64)}
	}
	return w, nil
}

// Width returns the window's width.
func (w *Window) Width() time.Duration { return time.Duration(w.width) }

// Covers reports whether an event at time t still falls in a pane the
// window keeps, that is, whether an Add at t would be counted.
func (w *Window) Covers(t int64) bool {
	p := floorDiv(t, w.paneWidth)
	return p > w.head-w.n && p < w.head-w.n+int64(len(w.ring))+1
}

// slot returns the pane for time t, preparing an empty slot when needed, and
// whether that pane is part of the running total. ok is false when t lies
// before the window or too far ahead of now.
func (w *Window) slot(t int64) (p *pane, inTotal, ok bool) {
	idx := floorDiv(t, w.paneWidth)
	if idx <= w.head-w.n || idx > w.head-w.n+int64(len(w.ring)) {
		return nil, false, false
	}
	p = &w.ring[mod(idx, int64(len(w.ring)))]
	if p.index != idx {
		// Advance clears every slot that leaves, so a mismatched slot is
		// empty.
		p.index = idx
	}
	return p, idx <= w.head, true
}

// Add adds delta to the counters at indices idx for an event at time t. It
// reports false, changing nothing, when t lies outside the panes kept.
func (w *Window) Add(t int64, idx []int, delta int64) bool {
	p, inTotal, ok := w.slot(t)
	if !ok {
		return false
	}
	for _, i := range idx {
		if p.counters[i] == 0 {
			p.touch(i) // a non-zero counter was touched before
		}
		p.counters[i] += delta
		if inTotal {
			w.counters[i] += delta
		}
	}
	return true
}

// Observe records value v (a non-negative duration in seconds) in the
// histograms of group (at most MaxGroup) for an event at time t; delta is
// +1 to observe, -1 to take a previous observation back. It reports false,
// changing nothing, when t lies outside the panes kept.
func (w *Window) Observe(t int64, group uint32, v float64, delta int) bool {
	if group > MaxGroup {
		panic(fmt.Sprintf("BUG: observation group %d above windows.MaxGroup", group))
	}
	p, inTotal, ok := w.slot(t)
	if !ok {
		return false
	}
	s := newSample(group, w.bins.Index(v), delta)
	p.samples = append(p.samples, s)
	if inTotal {
		w.applySample(s, 1)
	}
	return true
}

func (w *Window) applySample(s sample, sign int) {
	d := s.delta() * int64(sign)
	w.scratch = w.expand(s.group(), w.scratch[:0])
	for _, h := range w.scratch {
		i := h*w.bins.Len() + s.bin()
		w.hists[i] = uint32(int64(w.hists[i]) + d)
		w.histN[h] += d
	}
}

// Advance moves the window so that it ends at now: panes that enter are
// added to the totals, panes that leave are subtracted and cleared. Time
// never moves backwards; an earlier now is ignored.
func (w *Window) Advance(now int64) {
	newHead := floorDiv(now, w.paneWidth)
	if newHead <= w.head {
		return
	}
	if newHead-w.head > int64(len(w.ring))+w.n {
		// Every pane kept now lies before the new window: start afresh.
		w.reset(newHead)
		return
	}
	for w.head < newHead {
		w.head++
		if p := &w.ring[mod(w.head, int64(len(w.ring)))]; p.index == w.head {
			w.merge(p, 1)
		}
		if p := &w.ring[mod(w.head-w.n, int64(len(w.ring)))]; p.index == w.head-w.n {
			w.merge(p, -1)
			p.clear()
		}
	}
}

// merge adds (sign 1) or subtracts (sign -1) pane p to or from the totals.
func (w *Window) merge(p *pane, sign int64) {
	p.each(func(i int, c int64) { w.counters[i] += sign * c })
	for _, s := range p.samples {
		w.applySample(s, int(sign))
	}
}

func (w *Window) reset(head int64) {
	for i := range w.ring {
		w.ring[i].clear()
	}
	clear(w.counters)
	clear(w.hists)
	clear(w.histN)
	w.head = head
}

// Counter returns the running total of counter i.
func (w *Window) Counter(i int) int64 { return w.counters[i] }

// Count returns the number of observations in histogram h.
func (w *Window) Count(h int) int64 { return w.histN[h] }

// Quantiles writes to out[i] the nearest-rank qs[i]-quantile of histogram h,
// within the relative accuracy of the bins. qs must be ascending. It returns
// false, writing nothing, when the histogram is empty.
func (w *Window) Quantiles(h int, qs []float64, out []float64) bool {
	n := w.histN[h]
	if n == 0 {
		return false
	}
	counts := w.hists[h*w.bins.Len() : (h+1)*w.bins.Len()]
	var seen int64
	bin := 0
	for i, q := range qs {
		rank := NearestRank(q, n)
		for seen+int64(counts[bin]) < rank {
			seen += int64(counts[bin])
			bin++
		}
		out[i] = w.bins.Value(bin)
	}
	return true
}

// NearestRank returns the 1-based rank of the nearest-rank q-quantile among n
// samples: the smallest rank r with r ≥ q·n, and at least 1.
func NearestRank(q float64, n int64) int64 {
	// Round q·n to nine decimals first so that 0.9·10 is 9, not 9.000…02.
	r := int64(math.Ceil(math.Round(q*float64(n)*1e9) / 1e9))
	return min(max(r, 1), n)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
