package kpi

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// SLA bookkeeping. Each tracked ticket runs one clock per SLA kind: the
// first reply clock from its opening, the resolution clock from its
// opening and again from every reopening. A clock is met by the event
// that fulfils it (the first reply, or a resolution, which also fulfils an
// unmet first reply clock): achieved when met by the deadline, counted at
// the meeting; breached otherwise, counted at the deadline. A clock still
// unmet when the wall clock passes its deadline is breached then, at the
// deadline, and is not counted again when met later.
//
// The part of a ticket's contribution that depends on the wall clock (the
// breach of an unmet clock, and whether it is at risk or breached now) is
// its "final" part, computed from the fold state and now. Timers wake a
// ticket when its final part changes (its warning time or deadline comes),
// so between timers the final part of every ticket is what was last
// emitted, and can be taken back exactly like the rest of the fold.

// clock is one running SLA target of a ticket, in 16 bytes.
type clock struct {
	deadline int64 // Unix ns
	// lead is how long before the deadline the clock is at risk, in
	// whole seconds (rounded down), which is precise enough for a
	// warning and keeps the clock small.
	lead   uint32
	active bool // the ticket has this clock
	met    bool // the fulfilling event came (in time or late)
}

// warn returns when the clock becomes at risk.
func (c *clock) warn() int64 { return c.deadline - int64(c.lead)*int64(time.Second) }

// outcome indices.
const (
	achieved = iota
	breached
	numOutcomes
)

// timer wakes ticket tix at time at, if its generation is still gen.
type timer struct {
	at  int64
	tix int32
	gen uint32
}

// deadline is a clock's deadline, for finding the next breach.
type deadline struct {
	at  int64
	tix int32
}

// slaBook holds the SLA state beyond the tickets.
type slaBook struct {
	policy sla.Policy
	now    int64   // the wall clock time of the last Advance
	timers []timer // min-heap by at
	// ledgerAt is the ledger clock (ledgerclock.go); ledgerTimers wake a
	// ticket when it passes one of its deadlines, min-heap by at, with
	// the ticket's lgen.
	ledgerAt     int64
	ledgerTimers []timer
	// deadlines per kind and priority, min-heaps by at, checked lazily.
	deadlines    [sla.NumKinds][events.NumPriorities][]deadline
	atRisk       [sla.NumKinds][events.NumPriorities]int64
	breachedOpen [sla.NumKinds][events.NumPriorities]int64
}

// startClock starts the clock of kind k at time at for a ticket of fs's
// priority.
func (s *State) startClock(fs *foldState, tix int32, k sla.Kind, at int64, sign int64) {
	c := &fs.clocks[k]
	pri := events.Priority(fs.bd.pri)
	warn, dl := s.sla.policy.Clock(k, pri, at)
	c.deadline, c.lead = dl, uint32(min((dl-warn)/int64(time.Second), math.MaxUint32))
	c.active, c.met = true, false
	if sign > 0 {
		pushHeap(&s.sla.deadlines[k][pri], deadline{c.deadline, tix}, func(a, b deadline) bool { return a.at < b.at })
	}
}

// meet fulfils the clock of kind k at time at, if it is running.
func (s *State) meet(fs *foldState, k sla.Kind, at int64, sign int64) {
	c := &fs.clocks[k]
	if !c.active || c.met {
		return
	}
	c.met = true
	if at <= c.deadline {
		s.slaOutcome(fs.bd, k, achieved, at, sign)
	} else {
		s.slaOutcome(fs.bd, k, breached, c.deadline, sign)
	}
}

// slaOutcome counts an outcome decided by an event in the windows and in
// the cumulative counters.
func (s *State) slaOutcome(bd breakdown, k sla.Kind, o int, at int64, sign int64) {
	s.slaWindowOutcome(bd, k, o, at, sign)
	s.led.add(s.led.outcomeSlot(k, bd.pri, o), sign)
}

// slaWindowOutcome counts an outcome in the windows, in the overall and
// the priority cell only: SLA series are broken down by priority alone.
func (s *State) slaWindowOutcome(bd breakdown, k sla.Kind, o int, at int64, sign int64) {
	cells := s.dims.cells(bd)
	idx := [2]int{cells[0]*numCounters + cSLA + int(k)*numOutcomes + o, cells[2]*numCounters + cSLA + int(k)*numOutcomes + o}
	for _, w := range s.wins {
		w.Add(at, idx[:], sign)
	}
}

// final adds (sign 1) or takes back (sign -1) the clock dependent part of
// a ticket's contribution: the breach of an unmet clock whose deadline has
// passed, in the windows and gauges as of the wall clock now, in the
// cumulative counters as of the ledger clock ledgerAt; and whether a clock
// is at risk or breached now.
func (s *State) final(fs *foldState, now, ledgerAt int64, sign int64) {
	for k := range sla.NumKinds {
		c := &fs.clocks[k]
		if !c.active || c.met {
			continue
		}
		switch {
		case c.deadline <= now:
			s.slaWindowOutcome(fs.bd, k, breached, c.deadline, sign)
			s.sla.breachedOpen[k][fs.bd.pri] += sign
		case c.warn() <= now:
			s.sla.atRisk[k][fs.bd.pri] += sign
		}
		if c.deadline <= ledgerAt {
			s.led.add(s.led.outcomeSlot(k, fs.bd.pri, breached), sign)
		}
	}
}

// nextLedgerChange returns the earliest deadline after ledgerAt among the
// unmet clocks of fs, or maxTime.
func nextLedgerChange(fs *foldState, ledgerAt int64) int64 {
	next := int64(maxTime)
	for k := range sla.NumKinds {
		if c := &fs.clocks[k]; c.active && !c.met && c.deadline > ledgerAt {
			next = min(next, c.deadline)
		}
	}
	return next
}

// nextChange returns when the final part of fs changes next after now, or
// maxTime.
func nextChange(fs *foldState, now int64) int64 {
	next := int64(maxTime)
	for k := range sla.NumKinds {
		c := &fs.clocks[k]
		if !c.active || c.met {
			continue
		}
		switch {
		case c.warn() > now:
			next = min(next, c.warn())
		case c.deadline > now:
			next = min(next, c.deadline)
		}
	}
	return next
}

// wakeUps is when a ticket is due to wake: on the wall clock and on the
// ledger clock.
type wakeUps struct{ at, ledgerAt int64 }

// wakeUps returns when ticket tix is due to wake next.
func (s *State) wakeUps(tix int32) wakeUps {
	fs := &s.tickets.at(tix).fs
	return wakeUps{nextChange(fs, s.sla.now), nextLedgerChange(fs, s.sla.ledgerAt)}
}

var never = wakeUps{maxTime, maxTime}

// rearm schedules ticket tix's next wake-ups after a change to it; before
// is when it was due to wake. A wake-up that came earlier is kept: it
// finds nothing to change and schedules the next one, which is cheaper
// than replacing it on every event.
func (s *State) rearm(tix int32, before wakeUps) {
	tk := s.tickets.at(tix)
	after := s.wakeUps(tix)
	less := func(a, b timer) bool { return a.at < b.at }
	if after.at < before.at {
		tk.gen++
		pushHeap(&s.sla.timers, timer{after.at, tix, tk.gen}, less)
	}
	if after.ledgerAt < before.ledgerAt {
		tk.lgen++
		pushHeap(&s.sla.ledgerTimers, timer{after.ledgerAt, tix, tk.lgen}, less)
	}
}

// fireTimers wakes every ticket whose final part changed by now.
func (s *State) fireTimers(now int64) {
	less := func(a, b timer) bool { return a.at < b.at }
	for len(s.sla.timers) > 0 && s.sla.timers[0].at <= now {
		t := popHeap(&s.sla.timers, less)
		tk := s.tickets.at(t.tix)
		if tk.log == nil || tk.gen != t.gen {
			continue // forgotten or rescheduled since
		}
		// What was emitted holds until just before this timer: the
		// final part changes only at the times nextChange returns, and
		// no timer of this ticket was due earlier.
		s.final(&tk.fs, t.at-1, s.sla.ledgerAt, -1)
		s.final(&tk.fs, now, s.sla.ledgerAt, 1)
		tk.gen++
		if next := nextChange(&tk.fs, now); next != maxTime {
			pushHeap(&s.sla.timers, timer{next, t.tix, tk.gen}, less)
		}
	}
	s.sla.now = max(s.sla.now, now)
}

// advanceLedger moves the ledger clock to at (when later), counting in
// the cumulative counters the breaches of the unmet clocks it passes.
func (s *State) advanceLedger(at int64) {
	if at <= s.sla.ledgerAt {
		return
	}
	less := func(a, b timer) bool { return a.at < b.at }
	for len(s.sla.ledgerTimers) > 0 && s.sla.ledgerTimers[0].at <= at {
		t := popHeap(&s.sla.ledgerTimers, less)
		tk := s.tickets.at(t.tix)
		if tk.log == nil || tk.lgen != t.gen {
			continue
		}
		s.final(&tk.fs, s.sla.now, t.at-1, -1)
		s.final(&tk.fs, s.sla.now, at, 1)
		tk.lgen++
		if next := nextLedgerChange(&tk.fs, at); next != maxTime {
			pushHeap(&s.sla.ledgerTimers, timer{next, t.tix, tk.lgen}, less)
		}
	}
	s.sla.ledgerAt = at
}

// nextBreach returns the earliest deadline after now among unmet clocks
// of kind k and priority pri, dropping stale heap entries on the way.
func (s *State) nextBreach(k sla.Kind, pri events.Priority, now int64) (int64, bool) {
	h := &s.sla.deadlines[k][pri]
	less := func(a, b deadline) bool { return a.at < b.at }
	for len(*h) > 0 {
		d := (*h)[0]
		tk := s.tickets.at(d.tix)
		c := &tk.fs.clocks[k]
		if d.at > now && tk.log != nil && tk.fs.bd.pri == uint8(pri) && c.active && !c.met && c.deadline == d.at {
			return d.at, true
		}
		popHeap(h, less)
	}
	return 0, false
}

// AtRisk is an open ticket whose SLA clock is at risk or breached.
type AtRisk struct {
	TicketID string
	SLA      string // first_reply or resolution
	Priority string
	Channel  string
	Team     string
	Status   string // at_risk or breached
	Deadline int64  // Unix ns
}

// AtRiskTickets lists the open tickets at risk or in breach as of the last
// Advance, soonest deadline first, at most limit of them.
func (s *State) AtRiskTickets(limit int) []AtRisk {
	now := s.sla.now
	var out []AtRisk
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil {
			continue
		}
		for k := range sla.NumKinds {
			c := &tk.fs.clocks[k]
			if !c.active || c.met || c.warn() > now {
				continue
			}
			status := "at_risk"
			if c.deadline <= now {
				status = "breached"
			}
			bd := tk.fs.bd
			out = append(out, AtRisk{TicketID: tk.id(), SLA: k.String(), Priority: priorityLabel(int(bd.pri)),
				Channel: s.dims.channels[bd.ch], Team: s.dims.teams[bd.team], Status: status, Deadline: c.deadline})
		}
	}
	slices.SortFunc(out, func(a, b AtRisk) int {
		return cmp.Or(cmp.Compare(a.Deadline, b.Deadline), cmp.Compare(a.TicketID, b.TicketID), cmp.Compare(a.SLA, b.SLA))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// pushHeap and popHeap keep a slice as a binary min-heap without boxing
// items in interfaces, as container/heap would.
func pushHeap[T any](h *[]T, x T, less func(a, b T) bool) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !less(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func popHeap[T any](h *[]T, less func(a, b T) bool) T {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	if cap(s) > 1024 && cap(s) > 4*n {
		// Give memory back after a burst of clocks has passed.
		s = append(make([]T, 0, 2*n), s...)
	}
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && less(s[l], s[m]) {
			m = l
		}
		if r < n && less(s[r], s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
