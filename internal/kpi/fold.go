package kpi

// The fold: how one ticket's events, in event-time order, add to (or take
// back from) the windows, the backlog and the cumulative counters.

import (
	"math"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// addToTicket applies an event, its log entries es, to tracked ticket
// tix: one more fold step when it comes after everything the ticket has
// seen, a full re-fold otherwise. bd holds the labels of an opening.
func (s *State) addToTicket(tix int32, es []entry, bd breakdown) {
	tk := s.tickets.at(tix)
	defer s.rearm(tix, s.wakeUps(tix))
	e := es[0]
	last := tk.log[lastEvent(tk.log)]
	if e.typ() != events.TicketOpened && last.less(e) {
		n := len(tk.log)
		tk.log = append(s.logs.grow(tk.log, len(es)), es...)
		s.final(&tk.fs, s.sla.now, s.sla.ledgerAt, -1)
		s.step(&tk.fs, e, handleMillis(tk.log, n), 1)
		s.final(&tk.fs, s.sla.now, s.sla.ledgerAt, 1)
		return
	}
	if e.typ() == events.TicketOpened && tk.log[tk.defining()].less(e) {
		// A later opening changes nothing; keep its id.
		tk.log = s.insertSorted(tk.log, es)
		return
	}
	s.fold(tix, -1)
	tk.log = s.insertSorted(tk.log, es)
	if e.typ() == events.TicketOpened {
		tk.openBd = bd // the new defining opening
	}
	s.fold(tix, 1)
}

// fold adds (sign 1) or takes back (sign -1) ticket tix's whole
// contribution: its defining opening first, then every other event in
// event-time order, which is how held events join their ticket; then the
// part that depends on the wall clock.
func (s *State) fold(tix int32, sign int64) {
	tk := s.tickets.at(tix)
	fs := foldState{bd: tk.openBd}
	def := tk.defining()
	s.step(&fs, tk.log[def], -1, sign)
	for i, e := range tk.log {
		if i != def && e.typ() != events.TicketOpened && !e.isCont() {
			s.step(&fs, e, handleMillis(tk.log, i), sign)
		}
	}
	s.final(&fs, s.sla.now, s.sla.ledgerAt, sign)
	tk.fs = fs
}

// step folds one event of a ticket into fs and the aggregates; handle is
// a resolution's handling time in ms, or -1. Every sample counts under
// the labels fs holds at the event's time; an opening finds those of the
// ticket's defining opening there.
func (s *State) step(fs *foldState, e entry, handle int64, sign int64) {
	switch e.typ() {
	case events.TicketOpened:
		fs.openedAt, fs.open = e.at, true
		fs.status, fs.waitStart = events.StatusOpen, minTime
		s.selectPolicy(fs)
		s.setOpen(fs, sign)
		s.startClock(fs, replySlot, sla.FirstReply, e.at)
		s.startClock(fs, resolutionSlot, sla.Resolution, e.at)
	case events.TicketFirstReply:
		if fs.replied {
			return
		}
		s.firstReply(fs, e, sign)
	case events.TicketReplied:
		fs.replies = min(fs.replies+1, math.MaxUint16)
		switch {
		case !fs.replied:
			s.firstReply(fs, e, sign)
		case fs.waitStart != minTime:
			s.duration(hNextReply, fs.bd, e.at, e.at-fs.waitStart, sign)
			s.meet(fs, replySlot, e.at, e.agent(), sign)
			fs.waitStart = minTime
		}
	case events.TicketCustomerMessage:
		// Messages before the first reply belong to its clock.
		if fs.replied && fs.open && fs.waitStart == minTime {
			fs.waitStart = e.at
			s.startClock(fs, replySlot, sla.NextReply, e.at)
		}
	case events.TicketStatusChanged:
		if fs.open {
			s.setOpen(fs, -sign)
		}
		fs.status = e.status()
		if fs.open {
			s.setOpen(fs, sign)
		}
		s.pauses(fs, e.at)
	case events.TicketUpdated:
		if fs.open {
			s.setOpen(fs, -sign)
		}
		fs.bd = changed(fs.bd, e)
		if fs.open {
			s.setOpen(fs, sign)
		}
		s.selectPolicy(fs)
		s.retarget(fs, e.at)
	case events.TicketResolved:
		// A resolution answers the customer too: it fulfils a first or
		// next reply clock still running, and ends the wait.
		s.meet(fs, replySlot, e.at, e.agent(), sign)
		s.meet(fs, resolutionSlot, e.at, e.agent(), sign)
		s.agentCount(e.at, e.agent(), aResolved, sign)
		fs.waitStart, fs.resolver = minTime, e.agent()
		if fs.open {
			s.setOpen(fs, -sign)
			fs.open = false
		}
	case events.TicketReopened:
		if !fs.open {
			fs.open, fs.status = true, events.StatusOpen
			s.setOpen(fs, sign)
			// A reopening starts a new resolution clock with the full
			// target, as a new SLA cycle does in Jira Service Management.
			s.startClock(fs, resolutionSlot, sla.Resolution, e.at)
		}
	case events.SurveyAnswered:
		if e.at < fs.openedAt {
			// Answered before the ticket opened (in event time): the
			// ticket was not known then.
			s.contribute(unknown(), e, -1, -1, sign)
			return
		}
	}
	s.contribute(fs.bd, e, s.replyCount(fs, e), handle, sign)
	if kind, score := e.survey(); e.typ() == events.SurveyAnswered && kind == events.SurveyCSAT {
		s.agentCount(e.at, fs.resolver, aCSAT, sign)
		if score >= 4 {
			s.agentCount(e.at, fs.resolver, aCSATSatisfied, sign)
		}
	}
	if e.typ() == events.TicketResolved {
		s.duration(hResolution, fs.bd, e.at, e.at-fs.openedAt, sign)
	}
}

// firstReply folds the ticket's first reply e, from either event type.
func (s *State) firstReply(fs *foldState, e entry, sign int64) {
	fs.replied = true
	s.meet(fs, replySlot, e.at, e.agent(), sign)
	d := max(e.at-fs.openedAt, 0)
	s.duration(hFirstReply, fs.bd, e.at, d, sign)
	s.agentCount(e.at, e.agent(), aFirstReplies, sign)
	s.agentCount(e.at, e.agent(), aFirstReplyMs, sign*((d+500_000)/1_000_000))
}

// replyCount returns the reply count of a resolution for FCR: its replies
// field, or else the ticket.replied events before it; -1 when it has
// neither.
func (s *State) replyCount(fs *foldState, e entry) int64 {
	if e.typ() != events.TicketResolved {
		return -1
	}
	if r := e.replies(); r >= 0 || fs.replies == 0 {
		return r
	}
	return int64(fs.replies)
}

// contribute adds the counts of one event (durations aside) at breakdown
// bd; replies is a resolution's reply count for FCR and handle its
// handling time in ms, each -1 when it has none.
func (s *State) contribute(bd breakdown, e entry, replies, handle int64, sign int64) {
	switch e.typ() {
	case events.TicketOpened:
		s.count(e.at, bd, cOpened, sign)
		s.led.add(s.led.ticketSlot(totalOpened, s.combo(bd)), sign)
	case events.TicketResolved:
		s.count(e.at, bd, cResolved, sign)
		s.led.add(s.led.ticketSlot(totalResolved, s.combo(bd)), sign)
		if replies >= 0 {
			s.count(e.at, bd, cFCRResolutions, sign)
			if replies == 1 {
				s.count(e.at, bd, cFCROneReply, sign)
			}
		}
		if handle >= 0 {
			s.count(e.at, bd, cHandled, sign)
			s.count(e.at, bd, cHandleMs, sign*handle)
		}
	case events.TicketReopened:
		s.count(e.at, bd, cReopened, sign)
		s.led.add(s.led.ticketSlot(totalReopened, s.combo(bd)), sign)
	case events.TicketReplied:
		s.count(e.at, bd, cAgentReplies, sign)
	case events.TicketCustomerMessage:
		s.count(e.at, bd, cCustomerMessages, sign)
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

// duration records a first reply, resolution or next reply time d (ns;
// negative, for a reply stamped before its opening, counts as zero)
// observed at time at.
func (s *State) duration(h int, bd breakdown, at, d int64, sign int64) {
	d = max(d, 0)
	ms := (d + 500_000) / 1_000_000
	k := [numHists]int{hFirstReply: cFirstReplies, hResolution: cResolutions, hNextReply: cNextReplies}[h]
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

// setOpen adds delta to the backlog at the labels and status of fs.
func (s *State) setOpen(fs *foldState, delta int64) {
	base := int(fs.status) * s.dims.numCells()
	for _, c := range s.dims.cells(fs.bd) {
		s.open[base+c] += delta
	}
}

// combo is the index of bd in the channel × priority × team cross product
// of the cumulative counters.
func (s *State) combo(bd breakdown) int {
	return (int(bd.ch)*numPri+int(bd.pri))*(2+s.dims.maxTeams) + int(bd.team)
}
