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
// not depend on arrival order, as contract section 1 requires.
package kpi

import (
	"fmt"
	"maps"
	"slices"

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
	// cSLA is the first of sla.NumKinds × numOutcomes counters:
	// first reply achieved, breached, resolution achieved, breached.
	cSLA
	numCounters = cSLA + int(sla.NumKinds)*numOutcomes
)

// Histograms kept per cell.
const (
	hFirstReply = iota
	hResolution
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
	wins    []*windows.Window
	longest *windows.Window

	tickets slab    // index points into it
	free    []int32 // unused slots of tickets
	tracked int     // tickets in use
	index   index

	// held are events waiting for their ticket's opening, by ticket id.
	held      map[string][]entry
	heldMin   int64 // earliest event time among held entries
	heldCount int   // entries in held
	// ticketless remembers ids of events applied without a ticket, with
	// the event time, for de-duplication.
	ticketless map[uint64]int64

	watermark int64 // newest event time seen
	// lastStored is when the stream stored the last message Arrive saw,
	// and lastLive whether it was live (ledgerclock.go).
	lastStored int64
	lastLive   bool
	nextSweep  int64 // watermark at which resolved tickets are evicted next

	open []int64 // open tickets per cell
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
	clocks   [sla.NumKinds]clock
	bd       breakdown
	replied  bool
	open     bool
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
	d := newDims(cfg.Channels, cfg.Teams, cfg.MaxTeams)
	s := &State{
		cfg:        cfg,
		dims:       d,
		held:       map[string][]entry{},
		heldMin:    maxTime,
		ticketless: map[uint64]int64{},
		watermark:  minTime,
		lastStored: minTime,
		open:       make([]int64, d.numCells()),
		rejected:   map[events.Reason]int64{},
		lastEvent:  minTime,
		sla:        slaBook{policy: cfg.SLA, now: now, ledgerAt: minTime},
	}
	layout := windows.Layout{Counters: d.numCells() * numCounters, Hists: d.numCells() * numHists, Expand: d.expandHists}
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
	s.led = newLedger(len(d.channels), len(d.channels)*numPri*(2+d.maxTeams))
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

// Now returns the time the state was last advanced to (Unix ns).
func (s *State) Now() int64 { return s.sla.now }

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
	e := newEntry(ev, breakdown{})
	tix, tracked := int32(-1), false
	if len(ev.TicketID) > 0 {
		tix, tracked = s.lookup(ev.TicketID)
	}
	if s.seen(e, ev.TicketID, tix, tracked) {
		s.duplicates++
		return Duplicate
	}
	if !tracked && s.beyondIDMemory(e.at, len(ev.TicketID) > 0) {
		s.expired++
		return Expired
	}
	s.applied[ev.Type]++
	if ev.Type == events.TicketOpened {
		e = newEntry(ev, s.dims.breakdown(ev))
	}
	s.lastEvent = max(s.lastEvent, e.at)
	if !s.longest.Covers(e.at) {
		s.late++
	}
	if e.at > s.watermark {
		s.watermark = e.at
		s.advanceLedger(e.at)
		s.expire()
		if tracked {
			// expire never evicts an open ticket or one just touched,
			// but the slab index must be looked up again to be safe.
			tix, tracked = s.lookup(ev.TicketID)
		}
	}
	switch {
	case tracked:
		s.addToTicket(tix, e)
	case len(ev.TicketID) == 0:
		s.rememberTicketless(e)
		s.contribute(unknown(), e, 1)
	case ev.Type == events.TicketOpened:
		s.track(ev.TicketID, e)
	default:
		if ev.Type == events.SurveyAnswered {
			// Surveys are never held: counted now as unknown, moved
			// to their ticket should its opening turn up.
			s.contribute(unknown(), e, 1)
		}
		s.held[string(ev.TicketID)] = append(s.held[string(ev.TicketID)], e)
		s.heldMin = min(s.heldMin, e.at)
		if s.heldCount++; s.cfg.MaxHeld > 0 && s.heldCount > s.cfg.MaxHeld {
			s.evictHeld()
		}
	}
	return Applied
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

// seen reports whether an event with e's id was already applied.
func (s *State) seen(e entry, ticketID []byte, tix int32, tracked bool) bool {
	if _, ok := s.ticketless[e.id]; ok {
		return true
	}
	var log []entry
	if tracked {
		log = s.tickets.at(tix).log
	} else if len(ticketID) > 0 {
		log = s.held[string(ticketID)]
	}
	for _, x := range log {
		if x.id == e.id {
			return true
		}
	}
	return false
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
				s.contribute(unknown(), e, -1) // re-counted by the fold
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

// expire runs when the newest event time moves: held events whose opening
// did not arrive within HoldFor are applied without it, and resolved
// tickets and remembered ids past their retention are forgotten.
func (s *State) expire() {
	if s.watermark-int64(s.cfg.HoldFor) > s.heldMin {
		s.expireHeld()
	}
	if s.watermark >= s.nextSweep {
		s.sweep()
	}
}

func (s *State) expireHeld() { s.orphanHeldBefore(s.watermark-int64(s.cfg.HoldFor), -1, nil) }

// orphanHeldBefore applies held events older than horizon without their
// opening, at most limit of them (all when limit < 0), counting each in
// *counter when it is not nil.
func (s *State) orphanHeldBefore(horizon int64, limit int, counter *int64) {
	s.heldMin = maxTime
	ids := maps.Keys(s.held)
	if limit >= 0 {
		// Which of several events at the cutoff go must not depend on
		// map order.
		ids = slices.Values(slices.Sorted(ids))
	}
	for id := range ids {
		log := s.held[id]
		kept := log[:0]
		for _, e := range log {
			if e.at >= horizon || limit == 0 {
				kept = append(kept, e)
				s.heldMin = min(s.heldMin, e.at)
				continue
			}
			limit--
			s.heldCount--
			if counter != nil {
				*counter++
			}
			s.rememberTicketless(e)
			if e.typ() == events.SurveyAnswered {
				continue // already counted as unknown
			}
			s.orphaned++
			// Counted in volumes as unknown, with no duration.
			switch e.typ() {
			case events.TicketResolved:
				s.count(e.at, unknown(), cResolved, 1)
				s.led.add(s.led.ticketSlot(totalResolved, s.combo(unknown())), 1)
			case events.TicketReopened:
				s.count(e.at, unknown(), cReopened, 1)
				s.led.add(s.led.ticketSlot(totalReopened, s.combo(unknown())), 1)
			}
		}
		if len(kept) == 0 {
			delete(s.held, id)
		} else {
			s.held[id] = kept
		}
	}
}

// sweep forgets resolved tickets and ticketless ids past their retention.
// It runs each time the newest event time crosses an eighth of the
// retention, so a ticket is forgotten at most that much later than due.
func (s *State) sweep() {
	step := int64(min(s.cfg.RetainResolved, s.cfg.RetainIDs) / 8)
	s.nextSweep = s.watermark - s.watermark%step + step
	resolvedBefore := s.watermark - int64(s.cfg.RetainResolved)
	// Scan the slab, not the map: sequential memory is several times
	// faster, and this visits every tracked ticket.
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil || tk.fs.open || tk.log[len(tk.log)-1].at >= resolvedBefore {
			continue
		}
		s.forget(i)
		s.free = append(s.free, i)
	}
	idsBefore := s.watermark - int64(s.cfg.RetainIDs)
	for id, at := range s.ticketless {
		if at < idsBefore {
			delete(s.ticketless, id)
		}
	}
}
