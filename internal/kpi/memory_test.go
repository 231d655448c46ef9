package kpi

import (
	"runtime"
	"strconv"
	"syscall"
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
		var before runtime.MemStats
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
		s.View(start)
		require.Equal(b, tickets, s.tracked)
		require.Equal(b, int64(tickets), s.open[0])
		reportMemory(b, s, tickets, &before)
	}
}

// reportMemory reports the live heap per ticket, and the process's peak
// resident memory (ru_maxrss) after building the state and after a
// snapshot streamed as the engine does (EncodeTo). The peak is the
// process's, so run one benchmark per process:
//
//	go test -run XXX -bench MemoryPerOpenTicket -benchtime 1x ./internal/kpi
func reportMemory(b *testing.B, s *State, tickets int, before *runtime.MemStats) {
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tickets), "B/ticket")
	b.ReportMetric(float64(after.HeapInuse)/1e6, "heap-inuse-MB")
	b.ReportMetric(peakRSS()/1e6, "peak-RSS-MB")
	var n countWriter
	require.NoError(b, s.EncodeTo(&n))
	b.ReportMetric(peakRSS()/1e6, "peak-RSS-after-snapshot-MB")
	b.ReportMetric(float64(n)/1e6, "snapshot-MB")
	runtime.KeepAlive(s)
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) * 1024 // kilobytes on Linux
}

// countWriter counts what is written, like a store would take it.
type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) {
	*c += countWriter(len(b))
	return len(b), nil
}
