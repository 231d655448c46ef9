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
//	bits 0–2   type
//	opened:    bits 8–15 channel, 16–23 priority, 24–31 team
//	resolved:  bits 3–23 replies+1 (0: absent), 24–63 handle ms+1 (0: absent)
//	survey:    bits 8–9 kind, 10–13 score
type entry struct {
	at   int64
	id   uint64
	data uint64
}

const (
	repliesShift = 3
	repliesBits  = 21                         // events.MaxReplies+1 fits
	handleShift  = repliesShift + repliesBits // 40 bits: events.MaxHandleSeconds in ms fits
)

func newEntry(ev *events.Event, bd breakdown) entry {
	e := entry{at: ev.OccurredAt, id: hashID(ev.ID), data: uint64(ev.Type)}
	switch ev.Type {
	case events.TicketOpened:
		e.data |= uint64(bd.ch)<<8 | uint64(bd.pri)<<16 | uint64(bd.team)<<24
	case events.TicketResolved:
		e.data |= uint64(ev.Replies+1) << repliesShift
		e.data |= uint64(ev.HandleMillis+1) << handleShift
	case events.SurveyAnswered:
		e.data |= uint64(ev.Survey)<<8 | uint64(ev.Score)<<10
	}
	return e
}

func (e entry) typ() events.Type { return events.Type(e.data & 7) }

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

// less orders entries by event time; ties by type (the order of the
// lifecycle: opened, first reply, resolved, reopened, survey), then id, so
// that every arrival order folds the same way.
func (e entry) less(o entry) bool {
	if c := cmp.Compare(e.at, o.at); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(e.data&7, o.data&7); c != 0 {
		return c < 0
	}
	return e.id < o.id
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
