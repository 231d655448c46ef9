package kpi

// Retention: held events that wait too long are applied as orphans, and
// resolved tickets and remembered ids are forgotten after their retention.

import (
	"maps"
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

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
		held := s.held[id]
		kept := held[:0]
		for _, h := range held {
			e := h.e
			if e.isCont() {
				// It goes or stays with its resolution, just before.
				if len(kept) > 0 && kept[len(kept)-1].id == h.id {
					kept = append(kept, h)
				}
				continue
			}
			if e.at >= horizon || limit == 0 {
				kept = append(kept, h)
				s.heldMin = min(s.heldMin, e.at)
				continue
			}
			limit--
			s.heldCount--
			if counter != nil {
				*counter++
			}
			s.rememberTicketless(e.at, h.id)
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
			case events.TicketReplied:
				s.count(e.at, unknown(), cAgentReplies, 1)
			case events.TicketCustomerMessage:
				s.count(e.at, unknown(), cCustomerMessages, 1)
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
		if tk.log == nil || tk.fs.open || tk.log[lastEvent(tk.log)].at >= resolvedBefore {
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
