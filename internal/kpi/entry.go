package kpi

import (
	"cmp"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// entry is one applied event in 24 bytes: its time, a hash of its id (for
// de-duplication; ids are compared only among the few events of one ticket,
// so 64 bits make a collision practically impossible) and the payload that
// the fold needs, packed by type:
//
//	bits 0–3   type
//	opened:    bits 8–15 channel, 16–23 priority, 24–31 team
//	updated:   the same, and bits 32–34 events.Change* (which of them it sets)
//	status:    bits 8–9 status
//	resolved:  bits 4–24 replies+1 (0: absent), 25–63 handle ms+1 (0: absent)
//	survey:    bits 8–9 kind, 10–13 score
type entry struct {
	at   int64
	id   uint64
	data uint64
}

const (
	typeMask     = 15
	repliesShift = 4
	repliesBits  = 21                         // events.MaxReplies+1 fits
	handleShift  = repliesShift + repliesBits // 39 bits: events.MaxHandleSeconds in ms fits
)

func newEntry(ev *events.Event, bd breakdown) entry {
	e := entry{at: ev.OccurredAt, id: hashID(ev.ID), data: uint64(ev.Type)}
	switch ev.Type {
	case events.TicketOpened:
		e.data |= uint64(bd.ch)<<8 | uint64(bd.pri)<<16 | uint64(bd.team)<<24
	case events.TicketUpdated:
		e.data |= uint64(bd.ch)<<8 | uint64(bd.pri)<<16 | uint64(bd.team)<<24 | uint64(ev.Changes)<<32
	case events.TicketStatusChanged:
		e.data |= uint64(ev.Status) << 8
	case events.TicketResolved:
		e.data |= uint64(ev.Replies+1) << repliesShift
		e.data |= uint64(ev.HandleMillis+1) << handleShift
	case events.SurveyAnswered:
		e.data |= uint64(ev.Survey)<<8 | uint64(ev.Score)<<10
	}
	return e
}

func (e entry) typ() events.Type { return events.Type(e.data & typeMask) }

// changes returns the events.Change* bits of an update.
func (e entry) changes() uint8 { return uint8(e.data >> 32 & 7) }

// status returns the status of a status change.
func (e entry) status() events.Status { return events.Status(e.data >> 8 & 3) }

func (e entry) breakdown() breakdown {
	return breakdown{ch: uint8(e.data >> 8), pri: uint8(e.data >> 16), team: uint8(e.data >> 24)}
}

// replies returns the "replies" of a resolution, or -1.
func (e entry) replies() int64 { return int64(e.data>>repliesShift&(1<<repliesBits-1)) - 1 }

// handleMillis returns the handling time of a resolution, or -1.
func (e entry) handleMillis() int64 { return int64(e.data>>handleShift) - 1 }

func (e entry) survey() (events.SurveyKind, int) {
	return events.SurveyKind(e.data >> 8 & 3), int(e.data >> 10 & 15)
}

// less orders entries by event time; ties by the rank of their type (the
// order of a ticket's life, see rank), then id, so that every arrival
// order folds the same way.
func (e entry) less(o entry) bool {
	if c := cmp.Compare(e.at, o.at); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(rank(e.typ()), rank(o.typ())); c != 0 {
		return c < 0
	}
	return e.id < o.id
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
