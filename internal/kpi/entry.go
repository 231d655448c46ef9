package kpi

import (
	"cmp"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// entry is one applied event in a ticket's log, in 16 bytes: its time and
// a word that packs its type, the payload the fold needs, and the top 40
// bits of a hash of its id (for de-duplication: ids are compared only
// among the events of one ticket, so a false match needs two events of one
// ticket to collide in 40 bits, about one in 10^12 per pair; held events
// and ticketless ids keep the whole 64-bit hash):
//
//	bits 0–3    type, or contType for a continuation
//	bits 4–23   payload, by type:
//	  updated:  4–10 channel, 11–12 priority, 13–20 team, 21–23 events.Change*
//	  status:   4–5 status
//	  replies:  4–11 agent (first_reply, replied)
//	  resolved: 4–5 replies (0 absent, 1 one, 2 another count), 6 handle time follows, 7–14 agent
//	  survey:   4–5 kind, 6–9 score
//	bits 24–63  id hash
//
// A resolution that reports its handling time is followed by a
// continuation entry (type contType, the same time) whose bits 4–63 hold
// the time in ms. The two stay side by side: insertSorted places an event
// by its first entry, and moves both. The fold reads the continuation
// with its resolution and skips it otherwise. The opening's labels are not
// in the log: the ticket keeps those of its defining opening
// (ticket.openBd).
type entry struct {
	at int64
	w  uint64
}

const (
	typeMask     = 15
	contType     = 15
	payloadShift = 4
	payloadBits  = 20
	hashShift    = payloadShift + payloadBits
)

// record is the log entries of one event: one, or two for a resolution
// with its handling time.
type record struct {
	e [2]entry
	n int
}

func (r *record) entries() []entry { return r.e[:r.n] }

// newRecord returns the entries of ev, whose id hashes to h; bd holds the
// label indices of an update, agent the agent index of a reply or
// resolution.
func newRecord(ev *events.Event, bd breakdown, agent uint8, h uint64) record {
	w := uint64(ev.Type) | h>>hashShift<<hashShift
	var p uint64
	var r record
	switch ev.Type {
	case events.TicketUpdated:
		p = uint64(bd.ch) | uint64(bd.pri)<<7 | uint64(bd.team)<<9 | uint64(ev.Changes)<<17
	case events.TicketStatusChanged:
		p = uint64(ev.Status)
	case events.TicketFirstReply, events.TicketReplied:
		p = uint64(agent)
	case events.TicketResolved:
		p = uint64(agent) << 3
		switch {
		case ev.Replies == 1:
			p |= 1
		case ev.Replies >= 0:
			p |= 2
		}
		if ev.HandleMillis >= 0 {
			p |= 4
			r.e[1] = entry{ev.OccurredAt, contType | uint64(ev.HandleMillis)<<payloadShift}
			r.n = 1
		}
	case events.SurveyAnswered:
		p = uint64(ev.Survey) | uint64(ev.Score)<<2
	}
	r.e[0] = entry{ev.OccurredAt, w | p<<payloadShift}
	r.n++
	return r
}

func (e entry) typ() events.Type { return events.Type(e.w & typeMask) }

func (e entry) payload() uint64 { return e.w >> payloadShift & (1<<payloadBits - 1) }

// isCont reports whether e continues the resolution before it.
func (e entry) isCont() bool { return e.w&typeMask == contType }

// changes returns the events.Change* bits of an update.
func (e entry) changes() uint8 { return uint8(e.payload() >> 17 & 7) }

// update returns the label indices an update sets (see changes).
func (e entry) update() breakdown {
	p := e.payload()
	return breakdown{ch: uint8(p & 127), pri: uint8(p >> 7 & 3), team: uint8(p >> 9)}
}

// agent returns the agent index of a first reply, reply or resolution.
func (e entry) agent() uint8 {
	if e.typ() == events.TicketResolved {
		return uint8(e.payload() >> 3)
	}
	return uint8(e.payload())
}

// status returns the status of a status change.
func (e entry) status() events.Status { return events.Status(e.payload() & 3) }

// replies returns what the fold needs of a resolution's "replies": -1
// when absent, 1 for one reply, 2 for any other count.
func (e entry) replies() int64 {
	switch e.payload() & 3 {
	case 1:
		return 1
	case 2:
		return 2
	}
	return -1
}

// hasHandle reports whether e is a resolution followed by its handling
// time.
func (e entry) hasHandle() bool { return e.typ() == events.TicketResolved && e.payload()&4 != 0 }

// handleMillis returns the handling time of the resolution at log[i], or
// -1.
func handleMillis(log []entry, i int) int64 {
	if !log[i].hasHandle() {
		return -1
	}
	return int64(log[i+1].w >> payloadShift)
}

func (e entry) survey() (events.SurveyKind, int) {
	p := e.payload()
	return events.SurveyKind(p & 3), int(p >> 2 & 15)
}

// less orders the first entries of events by event time; ties by the
// rank of their type (the order of a ticket's life, see rank), then id
// hash, so that every arrival order folds the same way.
func (e entry) less(o entry) bool {
	if c := cmp.Compare(e.at, o.at); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(rank(e.typ()), rank(o.typ())); c != 0 {
		return c < 0
	}
	return e.w>>hashShift < o.w>>hashShift
}

// lastEvent returns the index of the first entry of the last event in log.
func lastEvent(log []entry) int {
	i := len(log) - 1
	if log[i].isCont() {
		i--
	}
	return i
}

// rank orders the events of one instant: the opening; an update, which
// counts from its own time on; the customer's message before the reply to
// it; the first reply before any other reply; a status change after the
// reply that comes with it; the resolution, then a reopening; a survey
// last. The v1 types keep their v1 order.
func rank(t events.Type) uint8 {
	switch t {
	case events.TicketOpened:
		return 0
	case events.TicketUpdated:
		return 1
	case events.TicketCustomerMessage:
		return 2
	case events.TicketFirstReply:
		return 3
	case events.TicketReplied:
		return 4
	case events.TicketStatusChanged:
		return 5
	case events.TicketResolved:
		return 6
	case events.TicketReopened:
		return 7
	}
	return 8
}

// hashID is 64-bit FNV-1a: stable across restarts, unlike hash/maphash.
func hashID[T string | []byte](b T) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(b) {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}
