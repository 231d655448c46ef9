package windows

import (
	"fmt"

	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// Accuracy is the relative accuracy of histogram quantiles: a reported
// quantile lies within this fraction of the exact nearest-rank sample. It
// stays a little under the contract's 1% to absorb floating-point rounding.
const Accuracy = 0.0099

// MinValue and MaxValue bound the values a histogram resolves, in seconds.
// Smaller values (including zero) count as zero; larger ones as MaxValue.
const (
	MinValue = 1e-3 // 1 ms
	MaxValue = 1e9  // about 31 years
)

// Bins maps durations to fixed, log-spaced histogram bins: DDSketch's
// logarithmic mapping over [MinValue, MaxValue] plus a bin for zero. Being
// fixed, bins of different panes line up, so histograms add and subtract
// bin by bin. Bins is immutable and may be shared.
type Bins struct {
	m      *mapping.LogarithmicMapping
	offset int // mapping index of bin 1
	n      int // number of bins, the zero bin included
}

// NewBins returns the bin layout used by every window.
func NewBins() (*Bins, error) {
	m, err := mapping.NewLogarithmicMapping(Accuracy)
	if err != nil {
		return nil, fmt.Errorf("histogram mapping: %w", err)
	}
	lo, hi := m.Index(MinValue), m.Index(MaxValue)
	b := &Bins{m: m, offset: lo, n: hi - lo + 2}
	if b.n > 1<<binBits {
		return nil, fmt.Errorf("BUG: %d histogram bins do not fit in a pane sample", b.n)
	}
	return b, nil
}

// Len returns the number of bins.
func (b *Bins) Len() int { return b.n }

// Index returns the bin of value v (seconds).
func (b *Bins) Index(v float64) int {
	switch {
	case !(v >= MinValue): // also NaN
		return 0
	case v >= MaxValue:
		return b.n - 1
	}
	return b.m.Index(v) - b.offset + 1
}

// Value returns the representative value of bin i: zero for bin 0,
// otherwise a value within Accuracy of every value in the bin.
func (b *Bins) Value(i int) float64 {
	if i == 0 {
		return 0
	}
	return b.m.Value(i - 1 + b.offset)
}
