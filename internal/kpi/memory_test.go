package kpi

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// BenchmarkMemoryPerOpenTicket tracks 1,000,000 open tickets (opened over
// the last two days across priorities, channels and teams, none replied to,
// so each has both SLA clocks, their timers and deadlines running, one id
// remembered) and reports the live heap per ticket. An open ticket costs
// more than the mix of BenchmarkMemoryPerTicket, which is mostly resolved
// tickets whose clocks are done.
func BenchmarkMemoryPerOpenTicket(b *testing.B) {
	const tickets = 1_000_000
	start := t0.UnixNano()
	pris := []events.Priority{events.PriorityLow, events.PriorityNormal, events.PriorityHigh, events.PriorityUrgent}
	chans := [][]byte{[]byte("email"), []byte("chat"), []byte("phone"), []byte("web")}
	teams := [][]byte{[]byte("billing"), []byte("support"), []byte("sales")}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := New(DefaultConfig(), start)
		require.NoError(b, err)
		e := &events.Event{}
		var id []byte
		for i := range tickets {
			id = strconv.AppendInt(append(id[:0], "T-"...), int64(i), 10)
			*e = events.Event{ID: id, TicketID: id, Type: events.TicketOpened, Priority: pris[i%4], Channel: chans[i%4], Team: teams[i%3],
				OccurredAt: start - int64(48*time.Hour) + int64(i)*int64(170*time.Millisecond), Replies: -1, HandleMillis: -1}
			s.Apply(e)
		}
		s.Snapshot(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		require.Equal(b, tickets, s.tracked)
		require.Equal(b, int64(tickets), s.open[0])
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/tickets, "B/ticket")
		runtime.KeepAlive(s)
	}
}
