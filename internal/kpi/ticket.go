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
	log    []entry // sorted by entry.less; points into inline while it fits
	inline [4]entry
	fs     foldState
	gen    uint32 // generation of the ticket's SLA timer; outlives the slot's tickets
	lgen   uint32 // generation of its ledger timer, likewise
	idLen  uint8  // length of an inline id
	idBuf  [maxInlineID]byte
	idHeap string // the id, when longer than maxInlineID
}

// maxInlineID is the longest ticket id kept inline; longer ones (UUIDs,
// say) go to the heap. 23 bytes with idLen fill 24, which keeps the ticket
// at 216 bytes.
const maxInlineID = 23

func (tk *ticket) setID(id []byte) {
	if len(id) <= maxInlineID {
		tk.idLen = uint8(copy(tk.idBuf[:], id))
		return
	}
	tk.idHeap = string(id)
}

// hasID reports whether the ticket's id is id.
func (tk *ticket) hasID(id []byte) bool {
	if tk.idHeap != "" {
		return tk.idHeap == string(id)
	}
	return string(tk.idBuf[:tk.idLen]) == string(id)
}

// id returns the ticket's id; it allocates, so it is not for the hot path.
func (tk *ticket) id() string {
	if tk.idHeap != "" {
		return tk.idHeap
	}
	return string(tk.idBuf[:tk.idLen])
}

// idHash returns hashID of the ticket's id.
func (tk *ticket) idHash() uint64 {
	if tk.idHeap != "" {
		return hashID(tk.idHeap)
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
	*tk = ticket{gen: tk.gen + 1, lgen: tk.lgen + 1}
	s.tracked--
}

// track starts tracking a ticket at its opening, taking over the events
// held for it.
func (s *State) track(id []byte, opened entry) {
	var tix int32
	if n := len(s.free); n > 0 {
		tix = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		tix = s.tickets.add()
	}
	tk := s.tickets.at(tix)
	*tk = ticket{gen: tk.gen, lgen: tk.lgen}
	tk.setID(id)
	tk.log = append(tk.inline[:0], opened)
	if held, ok := s.held[string(id)]; ok {
		for _, e := range held {
			if e.typ() == events.SurveyAnswered {
				s.contribute(unknown(), e, -1, -1) // re-counted by the fold
			}
			tk.log = insertSorted(tk.log, e)
		}
		s.heldCount -= len(held)
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

func insertSorted(log []entry, e entry) []entry {
	i := len(log)
	for i > 0 && e.less(log[i-1]) {
		i--
	}
	log = append(log, entry{})
	copy(log[i+1:], log[i:])
	log[i] = e
	return log
}

// defining returns the index of the ticket's earliest opening.
func (tk *ticket) defining() int {
	for i, e := range tk.log {
		if e.typ() == events.TicketOpened {
			return i
		}
	}
	panic("BUG: tracked ticket " + tk.id() + " has no opening")
}
