package kpi

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// v2Lives is a stream of tickets with the typical v2 life of the memory
// target: opened, replied, a customer message, replied, pending, a
// customer message, open again, a priority change, replied, resolved —
// open, 2 customer messages, 3 replies, a pending period, a priority
// change, resolved. Consecutive tickets interleave, step apart.
type v2Lives struct {
	e           events.Event
	id, tid     []byte
	start, step int64
	interleave  int  // tickets whose lives run side by side
	handle      bool // resolutions report handle_seconds
}

const v2LifeLen = 10

func (l *v2Lives) event(i int) *events.Event {
	k := max(l.interleave, 1)
	block, j := i/(k*v2LifeLen), i%(k*v2LifeLen)
	tk, n := block*k+j%k, j/k
	l.id = strconv.AppendInt(append(l.id[:0], "e-"...), int64(i), 10)
	l.tid = strconv.AppendInt(append(l.tid[:0], "T-"...), int64(tk), 10)
	l.e = events.Event{ID: l.id, TicketID: l.tid, Replies: -1, HandleMillis: -1, OccurredAt: l.start + int64(i)*l.step}
	switch n {
	case 0:
		chans := [...]string{"email", "chat", "web"}
		teams := [...]string{"billing", "tech", "sales"}
		l.e.Type, l.e.Priority = events.TicketOpened, events.Priority(tk%events.NumPriorities)
		l.e.Channel, l.e.Team = append(l.e.Channel[:0], chans[tk%3]...), append(l.e.Team[:0], teams[tk%3]...)
	case 1, 3, 8:
		l.e.Type = events.TicketReplied
	case 2, 5:
		l.e.Type = events.TicketCustomerMessage
	case 4:
		l.e.Type, l.e.Status = events.TicketStatusChanged, events.StatusPending
	case 6:
		l.e.Type, l.e.Status = events.TicketStatusChanged, events.StatusOpen
	case 7:
		l.e.Type, l.e.Priority, l.e.Changes = events.TicketUpdated, events.PriorityUrgent, events.ChangePriority
	case 9:
		l.e.Type = events.TicketResolved
		if l.handle {
			l.e.HandleMillis = 600_000
		}
	}
	return &l.e
}

// BenchmarkApplyV2 applies the v2 lives, 100 tickets side by side, one
// second apart in event time.
func BenchmarkApplyV2(b *testing.B) {
	s, err := New(DefaultConfig(), at(0))
	require.NoError(b, err)
	stream := v2Lives{start: t0.UnixNano(), step: int64(time.Second), interleave: 100}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := stream.event(i)
		if i%1000 == 0 {
			s.Advance(e.OccurredAt)
		}
		s.Apply(e)
	}
}

// BenchmarkMemoryPerV2Ticket tracks 1,000,000 tickets with the typical v2
// life, 20 ms apart in event time (so all are tracked at the end, most
// resolved), and reports the live heap per tracked ticket, event ids,
// SLA clocks and windows included; with_handle adds handle_seconds to
// each resolution. Run one per process:
//
//	go test -run XXX -bench MemoryPerV2Ticket/plain -benchtime 1x ./internal/kpi
func BenchmarkMemoryPerV2Ticket(b *testing.B) {
	b.Run("plain", func(b *testing.B) { memoryPerV2Ticket(b, false) })
	b.Run("with_handle", func(b *testing.B) { memoryPerV2Ticket(b, true) })
}

func memoryPerV2Ticket(b *testing.B, handle bool) {
	const tickets = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := New(DefaultConfig(), at(0))
		require.NoError(b, err)
		stream := v2Lives{start: t0.UnixNano(), step: int64(20 * time.Millisecond), interleave: 1000, handle: handle}
		for i := range tickets * v2LifeLen {
			e := stream.event(i)
			if i%1000 == 0 {
				s.Advance(e.OccurredAt)
			}
			s.Apply(e)
		}
		require.Equal(b, tickets, s.tracked)
		reportMemory(b, s, tickets, &before)
	}
}
