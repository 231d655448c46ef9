package kpi

import (
	"cmp"
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
	"github.com/helpdesk-kpi/aggregator/internal/snapfmt"
)

// The ledger is the cumulative record: every series Prometheus reads as a
// counter (tickets opened, resolved and reopened by channel × priority ×
// team, SLA outcomes, survey answers, and the first reply and resolution
// time histograms). Prometheus takes any decrease of a counter for a
// reset, so the ledger never decreases, whereas the fold it is fed from
// takes contributions back whenever an out-of-order event changes a
// ticket's past.
//
// The rule: the changes one event makes to a series are netted. What an
// event adds on balance is counted; what it takes back on balance is not
// subtracted but counted as a correction of that series, in a counter of
// its own. So a series' exact value (what an in-order delivery of the same
// events gives, as the windowed gauges show) is always its counter minus
// its corrections, and both only grow.
//
// A histogram sample is netted by its value: a take-back of a 12-minute
// first reply and the same sample added again cancel, while a take-back
// of a 12-minute reply that comes back as a 10-minute one leaves the 12
// minutes in the histogram and counts one correction. The histogram stays
// the histogram of a real multiset of samples, so its buckets, count and
// sum agree with each other.
//
// Every change goes through the ledger of the event (or timer round) being
// applied; settle commits it. Nothing here reads the clock: the ledger
// depends only on the order in which events and Advance calls come, which
// a replay of the stream reproduces.
type ledger struct {
	combos int // channel × priority × team combinations
	// counts and corrections share one layout: ticket totals (3 ×
	// combos), then SLA outcomes (kinds × priorities × outcomes), then
	// survey answers (kinds × 11 scores).
	counts, corrections []int64
	slaCells            int
	// hists holds the samples ever added on balance, per histogram and
	// channel × priority; histCorrections the samples taken back.
	hists           [numHists][]durationHist
	histCorrections [numHists][]int64

	pending  []ledgerDelta // changes of the event being applied
	negative bool          // pending holds a take-back
}

// ledgerDelta is one change: to a counter slot, or (histBit set) of a
// histogram sample's multiplicity.
type ledgerDelta struct {
	key uint64
	n   int64
}

// Keys of histogram samples: histBit, the histogram in bits 61–62, the
// channel × priority index in bits 40–60, the sample in milliseconds in
// bits 0–39 (about 35 years).
const (
	histBit   = 1 << 63
	histShift = 61
	cellShift = 40
	maxHistMs = 1<<cellShift - 1
)

// Ticket totals, indices of the first argument of ledger.ticket.
const (
	totalOpened = iota
	totalResolved
	totalReopened
	numTotals
)

func newLedger(channels, combos, slaCells int) ledger {
	l := ledger{combos: combos, slaCells: slaCells}
	n := numTotals*combos + int(sla.NumKinds)*slaCells*numOutcomes + events.NumSurveyKinds*11
	l.counts, l.corrections = make([]int64, n), make([]int64, n)
	for h := range l.hists {
		l.hists[h] = make([]durationHist, channels*events.NumPriorities)
		l.histCorrections[h] = make([]int64, channels*events.NumPriorities)
	}
	return l
}

func (l *ledger) ticketSlot(total, combo int) int { return total*l.combos + combo }

// outcomeSlot is the slot of outcome o of kind k in SLA cell cell (the
// layout of dims.slaCells; channel cells stay unused).
func (l *ledger) outcomeSlot(k sla.Kind, cell int, o int) int {
	return numTotals*l.combos + (int(k)*l.slaCells+cell)*numOutcomes + o
}

func (l *ledger) surveySlot(kind events.SurveyKind, score int) int {
	return numTotals*l.combos + int(sla.NumKinds)*l.slaCells*numOutcomes + int(kind)*11 + score
}

// add records a change of n to counter slot i.
func (l *ledger) add(i int, n int64) {
	l.pending = append(l.pending, ledgerDelta{uint64(i), n})
	l.negative = l.negative || n < 0
}

// sample records a change of n to the multiplicity of a sample of ms
// milliseconds in histogram h, channel × priority cell.
func (l *ledger) sample(h, cell int, ms, n int64) {
	key := histBit | uint64(h)<<histShift | uint64(cell)<<cellShift | uint64(min(ms, maxHistMs))
	l.pending = append(l.pending, ledgerDelta{key, n})
	l.negative = l.negative || n < 0
}

// settle commits the pending changes, netted per counter and per sample.
func (l *ledger) settle() {
	p := l.pending
	if len(p) == 0 {
		return
	}
	if l.negative {
		slices.SortFunc(p, func(a, b ledgerDelta) int { return cmp.Compare(a.key, b.key) })
		net := p[:0]
		for _, d := range p {
			if n := len(net); n > 0 && net[n-1].key == d.key {
				net[n-1].n += d.n
			} else {
				net = append(net, d)
			}
		}
		p = net
	}
	for _, d := range p {
		l.commit(d)
	}
	l.pending, l.negative = l.pending[:0], false
}

func (l *ledger) commit(d ledgerDelta) {
	switch {
	case d.n == 0:
	case d.key&histBit == 0 && d.n > 0:
		l.counts[d.key] += d.n
	case d.key&histBit == 0:
		l.corrections[d.key] -= d.n
	default:
		h, cell, ms := int(d.key>>histShift&3), int(d.key>>cellShift&(1<<(histShift-cellShift)-1)), int64(d.key&maxHistMs)
		if d.n > 0 {
			l.hists[h][cell].observe(ms, d.n)
		} else {
			l.histCorrections[h][cell] -= d.n
		}
	}
}

func (l *ledger) appendBinary(b []byte) []byte {
	b = appendInts(b, l.counts)
	b = appendInts(b, l.corrections)
	for h := range l.hists {
		for i := range l.hists[h] {
			b = l.hists[h][i].appendBinary(b)
		}
		b = appendInts(b, l.histCorrections[h])
	}
	return b
}

func (l *ledger) readBinary(r *snapfmt.Reader) {
	readInts(r, l.counts)
	readInts(r, l.corrections)
	for h := range l.hists {
		for i := range l.hists[h] {
			l.hists[h][i].readBinary(r)
		}
		readInts(r, l.histCorrections[h])
	}
}
