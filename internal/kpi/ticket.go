package kpi

// Tracked tickets: their storage (ids inline in a slab that never moves),
// starting and stopping to track one, and its sorted event log.

import (
	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// ticket is one tracked ticket: opened, and not yet evicted. It lives in
// a slab page that never moves, so its first events and its id are kept
// inline: a typical ticket costs no heap allocation of its own.
type ticket struct {
	log    []entry // sorted by entry.less; a chunk of State.logs
	fs     foldState
	openBd breakdown // the labels of its defining opening
	gen    uint32    // generation of the ticket's SLA timer; outlives the slot's tickets
	lgen   uint32    // generation of its ledger timer, likewise
	idLen  uint8     // length of an inline id, or longID
	idBuf  [maxInlineID]byte
}

// maxInlineID is the longest ticket id kept inline; longer ones (UUIDs,
// say) are kept in slab.long. 23 bytes with idLen fill 24 bytes.
const (
	maxInlineID = 23
	longID      = 255
)

// setID sets the id of the ticket in slot tix.
func (s *slab) setID(tix int32, id []byte) {
	tk := s.at(tix)
	if len(id) <= maxInlineID {
		tk.idLen = uint8(copy(tk.idBuf[:], id))
		return
	}
	tk.idLen = longID
	if s.long == nil {
		s.long = map[int32]string{}
	}
	s.long[tix] = string(id)
}

// clearID forgets the id of the ticket in slot tix.
func (s *slab) clearID(tix int32) {
	if s.at(tix).idLen == longID {
		delete(s.long, tix)
	}
}

// hasID reports whether the id of the ticket in slot tix is id.
func (s *slab) hasID(tix int32, id []byte) bool {
	tk := s.at(tix)
	if tk.idLen == longID {
		return s.long[tix] == string(id)
	}
	return string(tk.idBuf[:tk.idLen]) == string(id)
}

// id returns the id of the ticket in slot tix; it allocates, so it is not
// for the hot path.
func (s *slab) id(tix int32) string {
	tk := s.at(tix)
	if tk.idLen == longID {
		return s.long[tix]
	}
	return string(tk.idBuf[:tk.idLen])
}

// idHash returns hashID of the id of the ticket in slot tix.
func (s *slab) idHash(tix int32) uint64 {
	tk := s.at(tix)
	if tk.idLen == longID {
		return hashID(s.long[tix])
	}
	return hashID(tk.idBuf[:tk.idLen])
}

// foldState is what a ticket's fold has established so far.
type foldState struct {
	openedAt int64
	// waitStart is when the running wait for a next reply began, or
	// minTime while there is none.
	waitStart int64
	clocks    [numSlots]clock
	replies   uint16 // ticket.replied events so far, up to its maximum
	bd        breakdown
	policy    uint8 // index of the SLA policy, or noPolicy
	resolver  uint8 // agent of the latest resolution, for its survey
	status    events.Status
	replied   bool // the first reply came
	open      bool
}

// lookup returns the slab index of the ticket with the given id.
func (s *State) lookup(id []byte) (int32, bool) { return s.index.lookup(&s.tickets, id) }

// forget stops tracking the ticket in slot tix.
func (s *State) forget(tix int32) {
	s.index.remove(&s.tickets, tix)
	tk := s.tickets.at(tix)
	s.logs.release(tk.log)
	s.tickets.clearID(tix)
	*tk = ticket{gen: tk.gen + 1, lgen: tk.lgen + 1}
	s.tracked--
}

// track starts tracking a ticket at its opening, with labels bd, taking
// over the events held for it.
func (s *State) track(id []byte, opened entry, bd breakdown) {
	var tix int32
	if n := len(s.free); n > 0 {
		tix = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		tix = s.tickets.add()
	}
	tk := s.tickets.at(tix)
	*tk = ticket{gen: tk.gen, lgen: tk.lgen}
	s.tickets.setID(tix, id)
	tk.openBd = bd
	held := s.held[string(id)]
	tk.log = append(s.logs.alloc(1+len(held)), opened)
	for i := 0; i < len(held); i++ {
		r := record{e: [2]entry{held[i].e}, n: 1}
		if i+1 < len(held) && held[i+1].e.isCont() {
			r.e[1], r.n = held[i+1].e, 2
			i++
		}
		if r.e[0].typ() == events.SurveyAnswered {
			s.contribute(unknown(), r.e[0], -1, -1, -1) // re-counted by the fold
		}
		tk.log = s.insertSorted(tk.log, r.entries())
	}
	if held != nil {
		s.heldCount -= heldEvents(held)
		delete(s.held, string(id))
	}
	s.tracked++
	s.index.insert(&s.tickets, tix)
	s.fold(tix, 1)
	s.rearm(tix, never)
	if s.cfg.MaxTracked > 0 && s.tracked > s.cfg.MaxTracked {
		s.evictTracked()
	}
}

// insertSorted inserts the entries of one event into log, at the place of
// its first entry among the first entries of the others.
func (s *State) insertSorted(log []entry, es []entry) []entry {
	log = s.logs.grow(log, len(es))
	i := len(log)
	for i > 0 {
		j := i - 1
		if log[j].isCont() {
			j--
		}
		if !es[0].less(log[j]) {
			break
		}
		i = j
	}
	n := len(log)
	log = append(log, es...)
	copy(log[i+len(es):], log[i:n])
	copy(log[i:], es)
	return log
}

// defining returns the index of the ticket's earliest opening.
func (tk *ticket) defining() int {
	for i, e := range tk.log {
		if e.typ() == events.TicketOpened {
			return i
		}
	}
	panic("BUG: a tracked ticket has no opening")
}
