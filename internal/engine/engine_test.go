package engine

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func opened(id string) events.Event {
	return events.Event{ID: []byte(id), TicketID: []byte(id), Type: events.TicketOpened, Priority: events.PriorityUrgent,
		OccurredAt: now.Add(-20 * time.Minute).UnixNano(), Replies: -1, HandleMillis: -1}
}

// TestEngineLifecycle applies batches, answers readers between them, and on
// close applies everything handed over and writes the last snapshot.
func TestEngineLifecycle(t *testing.T) {
	state, err := kpi.New(kpi.DefaultConfig(), now.UnixNano())
	require.NoError(t, err)
	dir, err := snapshot.NewDir(t.TempDir(), snapshot.OS{})
	require.NoError(t, err)
	snaps := snapshot.NewManager(dir, zerolog.Nop(), prometheus.NewRegistry())
	e := New(state, func() time.Time { return now }, Config{PublishEvery: time.Hour, SaveEvery: time.Hour, Snapshots: snaps}, zerolog.Nop())
	require.False(t, e.Ready())

	in := make(chan *events.Batch)
	done := make(chan struct{})
	go func() { e.Run(in); close(done) }()

	stored := now.Add(-20 * time.Minute).UnixNano() // as they happened
	in <- &events.Batch{Events: []events.Event{opened("a"), opened("b")}, Stored: []int64{stored, stored}, LastSeq: 2, Pending: 1}
	require.False(t, e.Ready(), "one message still pending")
	in <- &events.Batch{Events: []events.Event{opened("c")}, Stored: []int64{stored}, Rejected: []events.Reason{events.ReasonInvalidJSON}, LastSeq: 4, Pending: 0}
	snap := e.Fresh(context.Background())
	require.True(t, e.Ready())
	require.Equal(t, int64(3), snap.Applied[events.TicketOpened])
	require.Equal(t, int64(1), snap.Rejected[events.ReasonInvalidJSON])
	require.Equal(t, uint64(4), snap.AppliedSeq)
	// Urgent first reply: 15 minutes, warned at 12; opened 20 minutes ago.
	require.Equal(t, int64(3), snap.SLA.BreachedOpen[0][1+int(events.PriorityUrgent)])
	require.True(t, snap.CaughtUp)
	// The stream is live (stored as they happened) and caught up: the
	// counters' clock follows the wall clock, and counts the breaches.
	require.Equal(t, int64(3), snap.SLA.Outcomes[0][1+int(events.PriorityUrgent)][1])
	list, at, err := e.AtRisk(context.Background(), kpi.AtRiskFilter{}, 2)
	require.NoError(t, err)
	require.Equal(t, now.UnixNano(), at)
	require.Len(t, list.Tickets, 2)
	require.Equal(t, 3, list.Breached)

	close(in)
	<-done
	// The last snapshot holds all of it.
	s, ok, err := snaps.Load(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(4), s.Seq)
	restored, err := kpi.Restore(kpi.DefaultConfig(), s.State)
	require.NoError(t, err)
	require.Equal(t, 3, restored.Tracked())
	// After the loop stopped, readers get the last published snapshot.
	require.Equal(t, int64(3), e.Fresh(context.Background()).Applied[events.TicketOpened])
	_, _, err = e.AtRisk(context.Background(), kpi.AtRiskFilter{}, 1)
	require.Error(t, err)
}
