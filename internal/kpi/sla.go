package kpi

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// SLA bookkeeping (contract section 2, SLA). Each tracked ticket has two
// clock slots: the reply clock (the first reply clock from its opening;
// after the first reply, a next reply clock for each wait) and the
// resolution clock (from its opening and again from every reopening). The
// first reply and a next reply clock never run at once: waits begin only
// after the first reply.
//
// A clock runs under the ticket's policy (the first that matches its
// labels) and counts that policy's time (calendar or business hours),
// except while the ticket's status is in the policy's pause_on for the
// clock's SLA. Its deadline is when the counted time reaches the target.
// A clock is met by the event that fulfils it: achieved when met by the
// deadline, counted at the meeting; breached otherwise, counted at the
// deadline. A clock still unmet when the wall clock passes its deadline is
// breached then, at the deadline, and is not counted again when met later.
// An update of priority, team or channel chooses the policy again and
// moves running clocks to the new target with the time they have counted;
// one that has counted more than the new target breaches at the update.
//
// The part of a ticket's contribution that depends on the wall clock (the
// breach of an unmet clock, and whether it is at risk, breached or paused
// now) is its "final" part, computed from the fold state and now. Timers
// wake a ticket when its final part changes (its warning time or deadline
// comes), so between timers the final part of every ticket is what was
// last emitted, and can be taken back exactly like the rest of the fold.

// Clock slots of a ticket.
const (
	replySlot = iota // first reply, then each next reply
	resolutionSlot
	numSlots
)

// clockState is where a clock stands.
type clockState uint8

const (
	clockOff     clockState = iota // not started, or its SLA not measured
	clockRunning                   // counting time; deadline holds
	clockPaused                    // standing still in a paused status
	clockMet                       // fulfilled (in time or late)
)

// clock is one SLA target of a ticket, in 32 bytes.
type clock struct {
	// at is, while the clock runs or is paused after breaching
	// (overdue), its deadline; while it is paused otherwise, the policy
	// time it has counted (a time.Duration).
	at int64
	// pausedAt is when a paused clock paused.
	pausedAt int64
	// pausedSecs is the calendar time spent paused, in whole seconds.
	pausedSecs uint32
	// lead is how long before the deadline the running clock is at
	// risk, in whole seconds (rounded down), which is precise enough
	// for a warning and keeps the clock small.
	lead    uint32
	lab     slaLabels // what its outcomes count under
	kind    sla.Kind
	state   clockState
	overdue bool // paused after its deadline passed: breached all the same
}

// warn returns when a running clock becomes at risk.
func (c *clock) warn() int64 { return c.at - int64(c.lead)*int64(time.Second) }

// live reports whether the clock is running or paused.
func (c *clock) live() bool { return c.state == clockRunning || c.state == clockPaused }

// hasDeadline reports whether the clock's deadline holds: it runs, or it
// is paused after breaching.
func (c *clock) hasDeadline() bool {
	return c.state == clockRunning || (c.state == clockPaused && c.overdue)
}

// outcome indices.
const (
	achieved = iota
	breached
	numOutcomes
)

// noPolicy is the policy index of a ticket that no policy matches.
const noPolicy = 255

// timer wakes ticket tix at time at, if its generation is still gen.
type timer struct {
	at  int64
	tix int32
	gen uint32
}

// slaBook holds the SLA state beyond the tickets.
type slaBook struct {
	cfg    sla.Config
	now    int64   // the wall clock time of the last Advance
	timers []timer // min-heap by at
	// ledgerAt is the ledger clock (ledgerclock.go); ledgerTimers wake a
	// ticket when it passes one of its deadlines, min-heap by at, with
	// the ticket's lgen.
	ledgerAt     int64
	ledgerTimers []timer
	// Live gauges by kind and SLA cell.
	atRisk, breachedOpen, paused [sla.NumKinds][]int64
}

func newSLABook(cfg sla.Config, d *dims, now int64) slaBook {
	b := slaBook{cfg: cfg, now: now, ledgerAt: minTime}
	for k := range sla.NumKinds {
		b.atRisk[k] = make([]int64, d.numSLACells())
		b.breachedOpen[k] = make([]int64, d.numSLACells())
		b.paused[k] = make([]int64, d.numSLACells())
	}
	return b
}

// selectPolicy sets the policy of fs from its labels.
func (s *State) selectPolicy(fs *foldState) {
	i := s.sla.cfg.Select(events.Priority(fs.bd.pri), s.dims.teams[fs.bd.team], s.dims.channels[fs.bd.ch])
	fs.policy = noPolicy
	if i >= 0 {
		fs.policy = uint8(i)
	}
}

func (fs *foldState) labels() slaLabels {
	return slaLabels{policy: fs.policy, pri: fs.bd.pri, ch: fs.bd.ch, team: fs.bd.team}
}

// target returns the target of an SLA of kind k for labels l, 0 when it
// is not measured.
func (s *State) target(k sla.Kind, l slaLabels) time.Duration {
	if l.policy == noPolicy || l.pri >= events.NumPriorities {
		return 0
	}
	return s.sla.cfg.Policies[l.policy].Targets[k][l.pri]
}

func (s *State) pausesOn(c *clock, st events.Status) bool {
	return s.sla.cfg.Policies[c.lab.policy].PauseOn[c.kind].Has(st)
}

// startClock starts the clock in slot of kind k at time at, unless the
// ticket's policy does not measure k.
func (s *State) startClock(fs *foldState, slot int, k sla.Kind, at int64) {
	c := &fs.clocks[slot]
	*c = clock{kind: k, lab: fs.labels()}
	if s.target(k, c.lab) == 0 {
		return
	}
	if s.pausesOn(c, fs.status) {
		c.state, c.pausedAt = clockPaused, at
		return
	}
	s.run(c, at, 0)
}

// run sets c running from t on, with elapsed of its policy's time counted
// so far.
func (s *State) run(c *clock, t int64, elapsed time.Duration) {
	p := &s.sla.cfg.Policies[c.lab.policy]
	d := s.target(c.kind, c.lab)
	w := time.Duration(float64(d) * s.sla.cfg.WarnFraction)
	c.state = clockRunning
	if elapsed >= d {
		c.at, c.lead = t, 0 // breached now
		return
	}
	c.at = p.Deadline(t, d-elapsed)
	warn := t
	if elapsed < w {
		warn = p.Deadline(t, w-elapsed)
	}
	c.lead = uint32(min((c.at-warn)/int64(time.Second), math.MaxUint32))
}

// elapsedAt returns the policy time a live clock that has not breached
// by t has counted by t: for a running one, its target less the policy
// time left until its deadline.
func (s *State) elapsedAt(c *clock, t int64) time.Duration {
	if c.state == clockPaused {
		return time.Duration(c.at)
	}
	left := s.sla.cfg.Policies[c.lab.policy].Elapsed(t, c.at)
	return s.target(c.kind, c.lab) - left
}

// pauses sets every live clock of fs paused or running, as the ticket's
// status at t asks.
func (s *State) pauses(fs *foldState, t int64) {
	for i := range fs.clocks {
		c := &fs.clocks[i]
		want := c.live() && s.pausesOn(c, fs.status)
		switch {
		case want && c.state == clockRunning:
			if c.overdue = c.at <= t; !c.overdue {
				c.at = int64(s.elapsedAt(c, t))
			}
			c.state, c.pausedAt = clockPaused, t
		case !want && c.state == clockPaused:
			c.pausedSecs += uint32(min(max(t-c.pausedAt, 0)/int64(time.Second), math.MaxUint32-int64(c.pausedSecs)))
			if c.overdue {
				c.state, c.overdue = clockRunning, false // its deadline passed: breached
			} else {
				s.run(c, t, time.Duration(c.at))
			}
		}
	}
}

// retarget moves the live clocks of fs that have not breached by t to the
// policy and target its labels now select, keeping the time they counted.
// One whose counted time reaches the new target breaches at t; one whose
// SLA the new policy does not measure stops without an outcome.
func (s *State) retarget(fs *foldState, t int64) {
	for i := range fs.clocks {
		c := &fs.clocks[i]
		if !c.live() || (c.hasDeadline() && c.at <= t) {
			continue // breached already: it stays as it was counted
		}
		elapsed := s.elapsedAt(c, t)
		c.lab = fs.labels()
		d := s.target(c.kind, c.lab)
		switch {
		case d == 0:
			c.state = clockOff
		case c.state == clockRunning:
			s.run(c, t, elapsed)
		case elapsed >= d:
			c.overdue, c.at = true, t
		}
	}
	s.pauses(fs, t)
}

// meet fulfils the clock in slot at time at, if it is live; agent is
// that of the event that met it.
func (s *State) meet(fs *foldState, slot int, at int64, agent uint8, sign int64) {
	c := &fs.clocks[slot]
	if !c.live() {
		return
	}
	if c.hasDeadline() && c.at < at {
		s.slaOutcome(c.lab, c.kind, breached, c.at, sign)
		s.agentCount(c.at, agent, aSLA+int(c.kind)*numOutcomes+breached, sign)
	} else {
		s.slaOutcome(fs.labels(), c.kind, achieved, at, sign)
		s.agentCount(at, agent, aSLA+int(c.kind)*numOutcomes+achieved, sign)
	}
	c.state = clockMet
}

// slaOutcome counts an outcome decided by an event in the windows and in
// the cumulative counters.
func (s *State) slaOutcome(l slaLabels, k sla.Kind, o int, at int64, sign int64) {
	s.slaWindowOutcome(l, k, o, at, sign)
	s.ledgerOutcome(l, k, o, sign)
}

// slaWindowOutcome counts an outcome in the windows, in each SLA cell of l.
func (s *State) slaWindowOutcome(l slaLabels, k sla.Kind, o int, at int64, sign int64) {
	var idx [5]int
	for i, c := range s.dims.slaCells(l) {
		idx[i] = s.slaBase() + c*slaPerCell + int(k)*numOutcomes + o
	}
	for _, w := range s.wins {
		w.Add(at, idx[:], sign)
	}
}

// slaBase is the index of the first SLA counter in a window pane.
func (s *State) slaBase() int { return s.dims.numCells() * numCounters }

// ledgerOutcome counts an outcome in the cumulative counters, whose
// breakdown has no channel.
func (s *State) ledgerOutcome(l slaLabels, k sla.Kind, o int, sign int64) {
	cells := s.dims.slaCells(l)
	for _, c := range [...]int{cells[0], cells[1], cells[3], cells[4]} {
		s.led.add(s.led.outcomeSlot(k, c, o), sign)
	}
}

// final adds (sign 1) or takes back (sign -1) the clock dependent part of
// a ticket's contribution: the breach of a clock whose deadline has
// passed unmet, in the windows and gauges as of the wall clock now, in
// the cumulative counters as of the ledger clock ledgerAt; and whether a
// clock is paused, breached or at risk now.
func (s *State) final(fs *foldState, now, ledgerAt int64, sign int64) {
	for i := range fs.clocks {
		c := &fs.clocks[i]
		if !c.live() {
			continue
		}
		if c.hasDeadline() && c.at <= now {
			s.slaWindowOutcome(c.lab, c.kind, breached, c.at, sign)
		}
		s.gauge(c, now, sign)
		if c.hasDeadline() && c.at <= ledgerAt {
			s.ledgerOutcome(c.lab, c.kind, breached, sign)
		}
	}
}

// gauge adds sign to the live gauge that live clock c counts in at now:
// paused, breached (and open) or at risk, if any.
func (s *State) gauge(c *clock, now int64, sign int64) {
	var g []int64
	switch {
	case c.state == clockPaused:
		g = s.sla.paused[c.kind]
	case c.at <= now:
		g = s.sla.breachedOpen[c.kind]
	case c.warn() <= now:
		g = s.sla.atRisk[c.kind]
	default:
		return
	}
	for _, cell := range s.dims.slaCells(c.lab) {
		g[cell] += sign
	}
}

// nextLedgerChange returns the earliest deadline after ledgerAt among the
// unmet clocks of fs, or maxTime.
func nextLedgerChange(fs *foldState, ledgerAt int64) int64 {
	next := int64(maxTime)
	for i := range fs.clocks {
		if c := &fs.clocks[i]; c.hasDeadline() && c.at > ledgerAt {
			next = min(next, c.at)
		}
	}
	return next
}

// nextChange returns when the final part of fs changes next after now, or
// maxTime.
func nextChange(fs *foldState, now int64) int64 {
	next := int64(maxTime)
	for i := range fs.clocks {
		c := &fs.clocks[i]
		switch {
		case !c.hasDeadline():
		case c.state == clockRunning && c.warn() > now:
			next = min(next, c.warn())
		case c.at > now:
			next = min(next, c.at)
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

// nextBreaches returns, per kind and SLA cell, the earliest deadline after
// now among the running clocks, maxTime where there is none. It visits
// every tracked ticket: a view is taken about once a second, and one pass
// over the slab is cheaper than keeping a heap of deadlines per cell.
func (s *State) nextBreaches(now int64) [sla.NumKinds][]int64 {
	var next [sla.NumKinds][]int64
	for k := range next {
		next[k] = make([]int64, s.dims.numSLACells())
		for i := range next[k] {
			next[k][i] = maxTime
		}
	}
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil {
			continue
		}
		for j := range tk.fs.clocks {
			c := &tk.fs.clocks[j]
			if c.state != clockRunning || c.at <= now {
				continue
			}
			for _, cell := range s.dims.slaCells(c.lab) {
				next[c.kind][cell] = min(next[c.kind][cell], c.at)
			}
		}
	}
	return next
}

// AtRisk is an open ticket's SLA clock that is at risk or breached.
type AtRisk struct {
	TicketID string
	SLA      string // first_reply, next_reply or resolution
	Policy   string
	Priority string
	Channel  string
	Team     string
	State    string // at_risk or breached
	Status   string // the ticket's status: open, pending or on_hold
	Deadline int64  // Unix ns
	// PausedSeconds is how long the clock has stood still so far.
	PausedSeconds int64
}

// AtRiskFilter selects clocks for AtRiskTickets; an empty field selects
// every value.
type AtRiskFilter struct {
	State, SLA, Priority, Team string
}

func (f *AtRiskFilter) keep(a *AtRisk) bool {
	return (f.State == "" || f.State == a.State) && (f.SLA == "" || f.SLA == a.SLA) &&
		(f.Priority == "" || f.Priority == a.Priority) && (f.Team == "" || f.Team == a.Team)
}

// AtRiskList is a page of AtRiskTickets and the totals it was cut from.
type AtRiskList struct {
	Tickets []AtRisk
	// AtRisk and Breached count every clock the filter kept, by state.
	AtRisk, Breached int
}

// AtRiskTickets lists the running clocks of open tickets at risk or in
// breach as of the last Advance that the filter keeps: at risk before
// breached, each soonest deadline first, at most limit of them.
func (s *State) AtRiskTickets(f AtRiskFilter, limit int) AtRiskList {
	now := s.sla.now
	var out AtRiskList
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil {
			continue
		}
		for j := range tk.fs.clocks {
			c := &tk.fs.clocks[j]
			if c.state != clockRunning || c.warn() > now {
				continue
			}
			a := AtRisk{TicketID: s.tickets.id(i), SLA: c.kind.String(), Policy: s.sla.cfg.Policies[c.lab.policy].Name,
				Priority: priorityLabel(int(c.lab.pri)), Channel: s.dims.channels[c.lab.ch], Team: s.dims.teams[c.lab.team],
				State: "at_risk", Status: tk.fs.status.String(), Deadline: c.at, PausedSeconds: int64(c.pausedSecs)}
			if c.at <= now {
				a.State = "breached"
			}
			if !f.keep(&a) {
				continue
			}
			if a.State == "breached" {
				out.Breached++
			} else {
				out.AtRisk++
			}
			out.Tickets = append(out.Tickets, a)
		}
	}
	slices.SortFunc(out.Tickets, func(a, b AtRisk) int {
		atRiskFirst := func(x AtRisk) int {
			if x.State == "at_risk" {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(atRiskFirst(a), atRiskFirst(b)), cmp.Compare(a.Deadline, b.Deadline),
			cmp.Compare(a.TicketID, b.TicketID), cmp.Compare(a.SLA, b.SLA))
	})
	if len(out.Tickets) > limit {
		out.Tickets = out.Tickets[:limit]
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
