package kpi

import (
	"strconv"
	"testing"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// BenchmarkApplyWithOpenTickets is BenchmarkApply's lifecycle stream with
// 1,000,000 open tickets already tracked (opened over the last two days,
// no replies, so each has SLA clocks and timers running). With the SLA
// bookkeeping, the per-event cost should stay close to BenchmarkApply's.
func BenchmarkApplyWithOpenTickets(b *testing.B) {
	start := t0.UnixNano()
	s, err := New(DefaultConfig(), start)
	if err != nil {
		b.Fatal(err)
	}
	e := &events.Event{}
	var id []byte
	const open = 1_000_000
	pris := []events.Priority{events.PriorityLow, events.PriorityNormal, events.PriorityHigh, events.PriorityUrgent}
	for i := range open {
		id = strconv.AppendInt(append(id[:0], "open-"...), int64(i), 10)
		*e = events.Event{ID: id, TicketID: id, Type: events.TicketOpened, Priority: pris[i%4],
			Channel: []byte("email"), OccurredAt: start - int64(48*time.Hour) + int64(i)*int64(170*time.Millisecond),
			Replies: -1, HandleMillis: -1}
		s.Apply(e)
	}
	s.Advance(start)
	stream := lifecycles{start: start, step: int64(10 * time.Millisecond)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e := stream.event(i)
		if i%1000 == 0 {
			s.Advance(e.OccurredAt)
		}
		s.Apply(e)
	}
}
