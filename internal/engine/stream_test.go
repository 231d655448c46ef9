package engine

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// TestSnapshotFollowsTheStream: a snapshot records which stream its
// sequence counts in, and a batch from a recreated stream makes the next
// snapshot due even at the sequence already saved; an empty batch (nothing
// read from the new stream yet) changes neither.
func TestSnapshotFollowsTheStream(t *testing.T) {
	oldStream := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	newStream := oldStream.Add(time.Hour)
	run := func(t *testing.T, batches ...*events.Batch) (*Engine, *snapshot.Manager) {
		t.Helper()
		state, err := kpi.New(kpi.DefaultConfig(), now.UnixNano())
		require.NoError(t, err)
		dir, err := snapshot.NewDir(t.TempDir(), snapshot.OS{})
		require.NoError(t, err)
		snaps := snapshot.NewManager(dir, zerolog.Nop(), prometheus.NewRegistry())
		e := New(state, func() time.Time { return now }, Config{PublishEvery: time.Hour, SaveEvery: time.Hour, Snapshots: snaps,
			AppliedSeq: 5, StreamCreated: oldStream}, zerolog.Nop())
		in := make(chan *events.Batch)
		done := make(chan struct{})
		go func() { e.Run(in); close(done) }()
		for _, b := range batches {
			in <- b
		}
		close(in)
		<-done
		return e, snaps
	}
	t.Run("a batch of the new stream", func(t *testing.T) {
		_, snaps := run(t, &events.Batch{Events: []events.Event{opened("a")}, Stored: []int64{now.UnixNano()}, LastSeq: 5, StreamCreated: newStream})
		s, ok, err := snaps.Load(context.Background())
		require.NoError(t, err)
		require.True(t, ok, "written although the sequence is the one restored")
		require.Equal(t, uint64(5), s.Seq)
		require.True(t, s.StreamCreated.Equal(newStream))
	})
	t.Run("nothing read from the new stream yet", func(t *testing.T) {
		e, snaps := run(t, &events.Batch{StreamCreated: newStream})
		require.True(t, e.Ready())
		_, ok, err := snaps.Load(context.Background())
		require.NoError(t, err)
		require.False(t, ok, "nothing changed: no snapshot")
	})
}
