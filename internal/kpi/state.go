// Package kpi folds helpdesk events into per-ticket state and windowed KPI
// aggregates, and takes immutable views of the result (View); package
// snapshot makes the state itself durable.
//
// State is owned by one goroutine: it is not safe for concurrent use, and it
// never reads the clock (callers pass now). Readers get a View, which
// never changes once taken.
//
// Out-of-order delivery is handled by keeping, per tracked ticket, a small
// log of its applied events sorted by event time. A ticket's contribution to
// the windows and counters is a fold over that log. An event that arrives in
// order extends the fold by one step; one that arrives out of order takes
// the ticket's whole contribution back (every aggregate here can be
// subtracted exactly), inserts the event and folds again. So the result does
// not depend on arrival order, as docs/events.md promises.
package kpi

import (
	"fmt"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
	"github.com/helpdesk-kpi/aggregator/internal/windows"
)

// Eviction reasons, indices of View.Evicted.
const (
	EvictedTracked = iota // a ticket forgotten at the MaxTracked limit
	EvictedHeld           // a held event orphaned at the MaxHeld limit
	EvictedIDs            // a ticketless event's id forgotten at the MaxTicketlessIDs limit
	NumEvictions          // the number of eviction reasons
)

// Counters kept per cell in every window pane.
const (
	cOpened = iota
	cResolved
	cReopened
	cFirstReplies
	cFirstReplyMs
	cResolutions
	cResolutionMs
	cFCRResolutions
	cFCROneReply
	cHandled
	cHandleMs
	cCSAT
	cCSATSatisfied
	cCSATScore
	cNPS
	cNPSPromoters
	cNPSDetractors
	cCES
	cCESScore
	cCESEasy
	cAgentReplies
	cCustomerMessages
	cNextReplies
	cNextReplyMs
	numCounters
)

// SLA outcome counters are kept per SLA cell (labels.go) after the
// counters of the breakdown cells: sla.NumKinds × numOutcomes per cell.
const slaPerCell = int(sla.NumKinds) * numOutcomes

// Histograms kept per cell.
const (
	hFirstReply = iota
	hResolution
	hNextReply
	numHists
)

// Result says what Apply did with an event.
type Result uint8

// Results of Apply.
const (
	Applied   Result = iota // folded into the state (possibly held for its opening)
	Duplicate               // an event with this id was already applied
	Expired                 // older than the id memory, for a ticket not tracked: applied to nothing
)

// State is the whole aggregation state. The zero value is not usable; call
// New.
type State struct {
	cfg     Config
	dims    *dims
	agents  *agents
	wins    []*windows.Window
	longest *windows.Window

	tickets slab     // index points into it
	logs    logArena // the tickets' logs
	free    []int32  // unused slots of tickets
	tracked int      // tickets in use
	index   index

	// held are events waiting for their ticket's opening, by ticket id.
	held      map[string][]heldEntry
	heldMin   int64 // earliest event time among held entries
	heldCount int   // events in held
	// ticketless remembers ids of events applied without a ticket, with
	// the event time, for de-duplication.
	ticketless map[uint64]int64

	watermark int64 // newest event time seen
	// lastStored is when the stream stored the last message Arrive saw,
	// and lastLive whether it was live (ledgerclock.go).
	lastStored int64
	lastLive   bool
	nextSweep  int64 // watermark at which resolved tickets are evicted next

	open []int64 // open tickets per status and cell: open[status*numCells+cell]
	led  ledger  // the cumulative series

	applied    [events.NumTypes]int64
	rejected   map[events.Reason]int64
	duplicates int64
	late       int64
	orphaned   int64
	expired    int64
	lastEvent  int64
	evicted    [NumEvictions]int64
	victims    []victim // scratch of evictTracked

	sla slaBook
}

// New returns an empty state whose windows end at now.
func New(cfg Config, now int64) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bins, err := windows.NewBins()
	if err != nil {
		return nil, err
	}
	d := newDims(cfg.Channels, cfg.Teams, cfg.MaxTeams, len(cfg.SLA.Policies))
	for _, p := range cfg.SLA.Policies {
		// Teams a policy names are admitted first, so that it can match.
		for _, t := range p.Match.Teams {
			if !d.fixed && len(d.teams)-2 < d.maxTeams {
				addLabel(&d.teams, d.teamIx, t)
			}
		}
	}
	s := &State{
		cfg:        cfg,
		dims:       d,
		held:       map[string][]heldEntry{},
		heldMin:    maxTime,
		ticketless: map[uint64]int64{},
		watermark:  minTime,
		lastStored: minTime,
		open:       make([]int64, events.NumStatuses*d.numCells()),
		rejected:   map[events.Reason]int64{},
		lastEvent:  minTime,
		sla:        newSLABook(cfg.SLA, d, now),
		agents:     newAgents(cfg.Agents, cfg.MaxAgents),
	}
	layout := windows.Layout{Counters: d.numCells()*numCounters + d.numSLACells()*slaPerCell + s.agents.numCells()*numAgentCounters,
		Hists: d.numCells() * numHists, Expand: d.expandHists}
	for _, wc := range cfg.Windows {
		w, err := windows.New(windows.Spec{Width: wc.Width, Ahead: cfg.MaxClockSkew}, layout, bins, now)
		if err != nil {
			return nil, fmt.Errorf("window %s: %w", wc.Name, err)
		}
		s.wins = append(s.wins, w)
		if s.longest == nil || wc.Width > s.longest.Width() {
			s.longest = w
		}
	}
	s.led = newLedger(len(d.channels), len(d.channels)*numPri*(2+d.maxTeams), d.numSLACells())
	return s, nil
}

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

// Advance moves every window so that it ends at now, and counts the SLA
// clocks that have come due. Time never goes back: an earlier now than
// the last one changes nothing.
func (s *State) Advance(now int64) {
	for _, w := range s.wins {
		w.Advance(now)
	}
	s.fireTimers(now)
	if s.lastStored == minTime && s.lastEvent != minTime {
		// Events come without stream times (Arrive was never called):
		// the ledger clock follows the wall clock.
		s.advanceLedger(now - int64(ledgerGrace))
	}
	s.led.settle()
}

// Reject counts a message rejected before it reached Apply.
func (s *State) Reject(r events.Reason) { s.rejected[r]++ }

// Apply folds one validated event into the state. The event's byte slices
// are copied where they must outlive the call.
func (s *State) Apply(ev *events.Event) Result {
	r := s.apply(ev)
	if s.lastStored != minTime {
		s.lastLive = s.lastStored-s.watermark <= int64(s.cfg.MaxClockSkew)
	}
	s.led.settle()
	return r
}

func (s *State) apply(ev *events.Event) Result {
	h := hashID(ev.ID)
	at := ev.OccurredAt
	tix, tracked := int32(-1), false
	if len(ev.TicketID) > 0 {
		tix, tracked = s.lookup(ev.TicketID)
	}
	if s.seen(h, ev.TicketID, tix, tracked) {
		s.duplicates++
		return Duplicate
	}
	if !tracked && s.beyondIDMemory(at, len(ev.TicketID) > 0) {
		s.expired++
		return Expired
	}
	s.applied[ev.Type]++
	var bd breakdown
	var agent uint8
	switch ev.Type {
	case events.TicketOpened:
		bd = s.dims.breakdown(ev)
	case events.TicketUpdated:
		bd = s.dims.update(ev)
	case events.TicketFirstReply, events.TicketReplied, events.TicketResolved:
		agent = s.agents.index(ev.AgentID)
	}
	r := newRecord(ev, bd, agent, h)
	e := r.e[0]
	s.lastEvent = max(s.lastEvent, at)
	if !s.longest.Covers(at) {
		s.late++
	}
	if at > s.watermark {
		s.watermark = at
		s.advanceLedger(at)
		s.expire()
		if tracked {
			// expire never evicts an open ticket or one just touched,
			// but the slab index must be looked up again to be safe.
			tix, tracked = s.lookup(ev.TicketID)
		}
	}
	switch {
	case tracked:
		s.addToTicket(tix, r.entries(), bd)
	case len(ev.TicketID) == 0:
		s.rememberTicketless(at, h)
		s.contribute(unknown(), e, -1, -1, 1)
	case ev.Type == events.TicketOpened:
		s.track(ev.TicketID, e, bd)
	default:
		if ev.Type == events.SurveyAnswered {
			// Surveys are never held: counted now as unknown, moved
			// to their ticket should its opening turn up.
			s.contribute(unknown(), e, -1, -1, 1)
		}
		held := s.held[string(ev.TicketID)]
		for _, x := range r.entries() {
			held = append(held, heldEntry{x, h})
		}
		s.held[string(ev.TicketID)] = held
		s.heldMin = min(s.heldMin, at)
		if s.heldCount++; s.cfg.MaxHeld > 0 && s.heldCount > s.cfg.MaxHeld {
			s.evictHeld()
		}
	}
	return Applied
}

// heldEntry is a log entry waiting for its ticket's opening, with the
// whole hash of its id, under which it is remembered should it be
// applied without its opening.
type heldEntry struct {
	e  entry
	id uint64
}

// heldEvents returns the number of events in held (continuation entries
// aside).
func heldEvents(held []heldEntry) int {
	n := 0
	for _, h := range held {
		if !h.e.isCont() {
			n++
		}
	}
	return n
}

// beyondIDMemory reports whether an event at time at, for a ticket that is
// not tracked (ticketless when hasTicket is false), lies further behind the
// newest event time than ids are remembered. Its id may have been
// forgotten, so it cannot be told from a re-send of an event that was
// applied long ago: it is expired and applied to nothing (contract
// section 1), which keeps "a duplicate changes nothing" true without end.
func (s *State) beyondIDMemory(at int64, hasTicket bool) bool {
	if s.watermark == minTime {
		return false
	}
	memory := s.cfg.RetainIDs
	if hasTicket {
		memory = s.cfg.RetainResolved
	}
	return at < s.watermark-int64(memory)
}

// seen reports whether an event whose id hashes to h was already applied.
func (s *State) seen(h uint64, ticketID []byte, tix int32, tracked bool) bool {
	if _, ok := s.ticketless[h]; ok {
		return true
	}
	key := h >> hashShift
	if tracked {
		for _, x := range s.tickets.at(tix).log {
			if x.w>>hashShift == key && !x.isCont() {
				return true
			}
		}
		return false
	}
	if len(ticketID) > 0 {
		for _, x := range s.held[string(ticketID)] {
			if x.id == h {
				return true
			}
		}
	}
	return false
}
