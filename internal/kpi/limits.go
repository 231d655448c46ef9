package kpi

import (
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Memory bounds. Eviction works in batches of about 1% of the limit, so
// that each costs one pass over the state and the passes are rare: the
// cutoff time comes from a sample of the tickets (or held events), and
// those older than it go first.

// evictTracked forgets the oldest opened tickets until the limit leaves
// room for 1% more. A forgotten ticket keeps its past contributions to the
// windows and counters but leaves the backlog and the live SLA gauges;
// later events for it are held and, without a new opening, orphaned.
func (s *State) evictTracked() {
	target := s.tracked - s.cfg.MaxTracked + max(1, s.cfg.MaxTracked/100)
	stride := max(1, int(s.tickets.len())/4096)
	var sample []int64
	for i := int32(0); i < s.tickets.len(); i += int32(stride) {
		if tk := s.tickets.at(i); tk.log != nil {
			sample = append(sample, tk.fs.openedAt)
		}
	}
	slices.Sort(sample)
	cutoff := sample[min(len(sample)-1, len(sample)*target/max(1, s.tracked))]
	// Older than the cutoff first, then at it, then anything: so the pass
	// always ends under the limit, whatever the sample said.
	for pass := 0; pass < 3 && target > 0; pass++ {
		for i := range s.tickets.len() {
			tk := s.tickets.at(i)
			if target == 0 {
				break
			}
			if tk.log == nil || pass == 0 && tk.fs.openedAt >= cutoff || pass == 1 && tk.fs.openedAt > cutoff {
				continue
			}
			s.dropLive(&tk.fs)
			s.forget(i)
			s.free = append(s.free, i)
			s.evicted[EvictedTracked]++
			target--
		}
	}
}

// dropLive takes a ticket out of the backlog and the live SLA gauges.
func (s *State) dropLive(fs *foldState) {
	if fs.open {
		s.setOpen(fs.bd, -1)
	}
	for k := range sla.NumKinds {
		c := &fs.clocks[k]
		if !c.active || c.met {
			continue
		}
		switch {
		case c.deadline <= s.sla.now:
			s.sla.breachedOpen[k][fs.bd.pri]--
		case c.warn() <= s.sla.now:
			s.sla.atRisk[k][fs.bd.pri]--
		}
	}
}

// evictHeld applies the oldest held events without their openings until
// the limit leaves room for 1% more.
func (s *State) evictHeld() {
	target := s.heldCount - s.cfg.MaxHeld + max(1, s.cfg.MaxHeld/100)
	times := make([]int64, 0, s.heldCount)
	for _, log := range s.held {
		for _, e := range log {
			times = append(times, e.at)
		}
	}
	slices.Sort(times)
	cutoff := times[min(len(times)-1, target-1)]
	s.orphanHeldBefore(cutoff+1, target, &s.evicted[EvictedHeld])
}
