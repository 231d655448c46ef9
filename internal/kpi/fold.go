package kpi

// The fold: how one ticket's events, in event-time order, add to (or take
// back from) the windows, the backlog and the cumulative counters.

import (
	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// addToTicket applies e to tracked ticket tix: one more fold step when e
// comes after everything the ticket has seen, a full re-fold otherwise.
func (s *State) addToTicket(tix int32, e entry) {
	tk := s.tickets.at(tix)
	defer s.rearm(tix, s.wakeUps(tix))
	last := tk.log[len(tk.log)-1]
	if e.typ() != events.TicketOpened && last.less(e) {
		tk.log = append(tk.log, e)
		s.final(&tk.fs, s.sla.now, s.sla.ledgerAt, -1)
		s.step(&tk.fs, tix, e, 1)
		s.final(&tk.fs, s.sla.now, s.sla.ledgerAt, 1)
		return
	}
	if e.typ() == events.TicketOpened && tk.log[tk.defining()].less(e) {
		// A later opening changes nothing; keep its id.
		tk.log = insertSorted(tk.log, e)
		return
	}
	s.fold(tix, -1)
	tk.log = insertSorted(tk.log, e)
	s.fold(tix, 1)
}

// fold adds (sign 1) or takes back (sign -1) ticket tix's whole
// contribution: its defining opening first, then every other event in
// event-time order, which is how held events join their ticket; then the
// part that depends on the wall clock.
func (s *State) fold(tix int32, sign int64) {
	tk := s.tickets.at(tix)
	var fs foldState
	def := tk.defining()
	s.step(&fs, tix, tk.log[def], sign)
	for i, e := range tk.log {
		if i != def && e.typ() != events.TicketOpened {
			s.step(&fs, tix, e, sign)
		}
	}
	s.final(&fs, s.sla.now, s.sla.ledgerAt, sign)
	tk.fs = fs
}

// step folds one event of ticket tix into fs and the aggregates.
func (s *State) step(fs *foldState, tix int32, e entry, sign int64) {
	switch e.typ() {
	case events.TicketOpened:
		fs.openedAt, fs.bd, fs.open = e.at, e.breakdown(), true
		s.setOpen(fs.bd, sign)
		s.startClock(fs, tix, sla.FirstReply, e.at, sign)
		s.startClock(fs, tix, sla.Resolution, e.at, sign)
	case events.TicketFirstReply:
		if fs.replied {
			return
		}
		fs.replied = true
		s.meet(fs, sla.FirstReply, e.at, sign)
	case events.TicketResolved:
		// A resolution answers the customer too: it fulfils a first
		// reply clock still running.
		s.meet(fs, sla.FirstReply, e.at, sign)
		s.meet(fs, sla.Resolution, e.at, sign)
		if fs.open {
			fs.open = false
			s.setOpen(fs.bd, -sign)
		}
	case events.TicketReopened:
		if !fs.open {
			fs.open = true
			s.setOpen(fs.bd, sign)
			// A reopening starts a new resolution clock with the full
			// target, as a new SLA cycle does in Jira Service Management.
			s.startClock(fs, tix, sla.Resolution, e.at, sign)
		}
	case events.SurveyAnswered:
		if e.at < fs.openedAt {
			// Answered before the ticket opened (in event time): the
			// ticket was not known then.
			s.contribute(unknown(), e, sign)
			return
		}
	}
	s.contribute(fs.bd, e, sign)
	switch e.typ() {
	case events.TicketFirstReply:
		s.duration(hFirstReply, fs.bd, e.at, e.at-fs.openedAt, sign)
	case events.TicketResolved:
		s.duration(hResolution, fs.bd, e.at, e.at-fs.openedAt, sign)
	}
}

// contribute adds the counts of one event (durations aside) at breakdown bd.
func (s *State) contribute(bd breakdown, e entry, sign int64) {
	switch e.typ() {
	case events.TicketOpened:
		s.count(e.at, bd, cOpened, sign)
		s.led.add(s.led.ticketSlot(totalOpened, s.combo(bd)), sign)
	case events.TicketResolved:
		s.count(e.at, bd, cResolved, sign)
		s.led.add(s.led.ticketSlot(totalResolved, s.combo(bd)), sign)
		if r := e.replies(); r >= 0 {
			s.count(e.at, bd, cFCRResolutions, sign)
			if r == 1 {
				s.count(e.at, bd, cFCROneReply, sign)
			}
		}
		if h := e.handleMillis(); h >= 0 {
			s.count(e.at, bd, cHandled, sign)
			s.count(e.at, bd, cHandleMs, sign*h)
		}
	case events.TicketReopened:
		s.count(e.at, bd, cReopened, sign)
		s.led.add(s.led.ticketSlot(totalReopened, s.combo(bd)), sign)
	case events.SurveyAnswered:
		kind, score := e.survey()
		s.led.add(s.led.surveySlot(kind, score), sign)
		switch kind {
		case events.SurveyCSAT:
			s.count(e.at, bd, cCSAT, sign)
			s.count(e.at, bd, cCSATScore, sign*int64(score))
			if score >= 4 {
				s.count(e.at, bd, cCSATSatisfied, sign)
			}
		case events.SurveyNPS:
			s.count(e.at, bd, cNPS, sign)
			if score >= 9 {
				s.count(e.at, bd, cNPSPromoters, sign)
			} else if score <= 6 {
				s.count(e.at, bd, cNPSDetractors, sign)
			}
		case events.SurveyCES:
			s.count(e.at, bd, cCES, sign)
			s.count(e.at, bd, cCESScore, sign*int64(score))
			if score >= 5 {
				s.count(e.at, bd, cCESEasy, sign)
			}
		}
	}
}

// duration records a first reply or resolution time d (ns; negative, for a
// reply stamped before its opening, counts as zero) observed at time at.
func (s *State) duration(h int, bd breakdown, at, d int64, sign int64) {
	d = max(d, 0)
	ms := (d + 500_000) / 1_000_000
	k := cFirstReplies
	if h == hResolution {
		k = cResolutions
	}
	s.count(at, bd, k, sign)
	s.count(at, bd, k+1, sign*ms)
	secs := float64(d) / 1e9
	for _, w := range s.wins {
		w.Observe(at, histGroup(bd, h), secs, int(sign))
	}
	if bd.pri < events.NumPriorities {
		s.led.sample(h, int(bd.ch)*events.NumPriorities+int(bd.pri), ms, sign)
	}
}

// count adds delta to counter k of every cell of bd, in every window.
func (s *State) count(at int64, bd breakdown, k int, delta int64) {
	cells := s.dims.cells(bd)
	var idx [4]int
	for i, c := range cells {
		idx[i] = c*numCounters + k
	}
	for _, w := range s.wins {
		w.Add(at, idx[:], delta)
	}
}

func (s *State) setOpen(bd breakdown, delta int64) {
	for _, c := range s.dims.cells(bd) {
		s.open[c] += delta
	}
}

// combo is the index of bd in the channel × priority × team cross product
// of the cumulative counters.
func (s *State) combo(bd breakdown) int {
	return (int(bd.ch)*numPri+int(bd.pri))*(2+s.dims.maxTeams) + int(bd.team)
}
