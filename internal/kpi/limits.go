package kpi

import (
	"slices"
)

// Memory bounds. Eviction works in batches of about 1% of the limit, so
// that each costs one pass over the state and the passes are rare: the
// cutoff time comes from a sample of the tickets (or held events), and
// those older than it go first.

// evictTracked forgets the oldest opened tickets until the limit leaves
// room for 1% more. A forgotten ticket keeps its past contributions to the
// windows and counters but leaves the backlog and the live SLA gauges;
// later events for it are held and, without a new opening, orphaned.
//
// Which tickets go depends only on their opening times and ids, never on
// where they sit in memory, so a restored state evicts exactly what an
// uninterrupted one would.
func (s *State) evictTracked() {
	target := s.tracked - s.cfg.MaxTracked + max(1, s.cfg.MaxTracked/100)
	vs := s.victims[:0]
	for i := range s.tickets.len() {
		if tk := s.tickets.at(i); tk.log != nil {
			vs = append(vs, victim{at: tk.fs.openedAt, hash: s.tickets.idHash(i), tix: i})
		}
	}
	s.victims = vs
	selectOldest(vs, target, func(a, b *victim) bool {
		if a.at != b.at {
			return a.at < b.at
		}
		if a.hash != b.hash {
			return a.hash < b.hash
		}
		return s.tickets.id(a.tix) < s.tickets.id(b.tix)
	})
	for _, v := range vs[:target] {
		tk := s.tickets.at(v.tix)
		s.dropLive(&tk.fs)
		s.forget(v.tix)
		s.free = append(s.free, v.tix)
		s.evicted[EvictedTracked]++
	}
}

// rememberTicketless remembers the id hash h of an event at time at,
// applied without a ticket; past MaxTicketlessIDs it forgets the oldest
// (by event time, then id) until the limit leaves room for 1% more.
func (s *State) rememberTicketless(at int64, h uint64) {
	s.ticketless[h] = at
	if s.cfg.MaxTicketlessIDs <= 0 || len(s.ticketless) <= s.cfg.MaxTicketlessIDs {
		return
	}
	target := len(s.ticketless) - s.cfg.MaxTicketlessIDs + max(1, s.cfg.MaxTicketlessIDs/100)
	vs := s.victims[:0]
	for id, at := range s.ticketless {
		vs = append(vs, victim{at: at, hash: id})
	}
	s.victims = vs
	selectOldest(vs, target, func(a, b *victim) bool {
		if a.at != b.at {
			return a.at < b.at
		}
		return a.hash < b.hash
	})
	for _, v := range vs[:target] {
		delete(s.ticketless, v.hash)
		s.evicted[EvictedIDs]++
	}
}

// victim is a candidate for eviction.
type victim struct {
	at   int64
	hash uint64
	tix  int32
}

// selectOldest reorders vs so that its first k items are the k least by
// less (a quickselect: linear time on average, median-of-three pivots).
func selectOldest(vs []victim, k int, less func(a, b *victim) bool) {
	lo, hi := 0, len(vs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if less(&vs[mid], &vs[lo]) {
			vs[mid], vs[lo] = vs[lo], vs[mid]
		}
		if less(&vs[hi], &vs[lo]) {
			vs[hi], vs[lo] = vs[lo], vs[hi]
		}
		if less(&vs[hi], &vs[mid]) {
			vs[hi], vs[mid] = vs[mid], vs[hi]
		}
		pivot := vs[mid]
		i, j := lo, hi
		for i <= j {
			for less(&vs[i], &pivot) {
				i++
			}
			for less(&pivot, &vs[j]) {
				j--
			}
			if i <= j {
				vs[i], vs[j] = vs[j], vs[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// dropLive takes a ticket out of the backlog and the live SLA gauges.
func (s *State) dropLive(fs *foldState) {
	if fs.open {
		s.setOpen(fs, -1)
	}
	for i := range fs.clocks {
		if c := &fs.clocks[i]; c.live() {
			s.gauge(c, s.sla.now, -1)
		}
	}
}

// evictHeld applies the oldest held events without their openings until
// the limit leaves room for 1% more.
func (s *State) evictHeld() {
	target := s.heldCount - s.cfg.MaxHeld + max(1, s.cfg.MaxHeld/100)
	times := make([]int64, 0, s.heldCount)
	for _, held := range s.held {
		for _, h := range held {
			if !h.e.isCont() {
				times = append(times, h.e.at)
			}
		}
	}
	slices.Sort(times)
	cutoff := times[min(len(times)-1, target-1)]
	s.orphanHeldBefore(cutoff+1, target, &s.evicted[EvictedHeld])
}
