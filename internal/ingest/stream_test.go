package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// TestStartSeq positions the reading after a restored state on streams in
// every state StartSeq tells apart, and checks what it counts.
func TestStartSeq(t *testing.T) {
	srv := natstest.Start(t)
	nc, js := srv.Connect(t)
	ctx := context.Background()
	c, err := New(DefaultConfig(), 5*time.Minute, nc, zerolog.Nop(), prometheus.NewRegistry(), time.Now)
	require.NoError(t, err)
	stream, err := c.EnsureStream(ctx)
	require.NoError(t, err)
	for i := range 10 {
		publishRaw(t, js, "helpdesk.events.x", fmt.Sprint("m-", i), []byte("{}"))
	}
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	created := info.Created
	before := created.Add(-time.Hour)
	regressions := func() (behind, gap float64) {
		return testutil.ToFloat64(c.metrics.regressions.WithLabelValues("behind")),
			testutil.ToFloat64(c.metrics.regressions.WithLabelValues("gap"))
	}
	check := func(applied Position, wantSeq uint64, wantBehind, wantGap float64) {
		t.Helper()
		b0, g0 := regressions()
		start, err := c.StartSeq(ctx, stream, applied)
		require.NoError(t, err)
		require.Equal(t, wantSeq, start.Seq)
		require.True(t, start.StreamCreated.Equal(created), "the current stream's creation time")
		b1, g1 := regressions()
		require.Equal(t, wantBehind, b1-b0, "behind")
		require.Equal(t, wantGap, g1-g0, "gap")
	}
	check(Position{}, 1, 0, 0)                                 // fresh
	check(Position{Seq: 4, StreamCreated: created}, 5, 0, 0)   // continues
	check(Position{Seq: 4}, 5, 0, 0)                           // creation time unknown (format 1)
	check(Position{Seq: 4, StreamCreated: before}, 1, 1, 0)    // recreated since
	check(Position{Seq: 12}, 1, 1, 0)                          // behind, creation time unknown
	check(Position{Seq: 12, StreamCreated: created}, 1, 1, 0)  // behind the same stream (its last messages lost)
	check(Position{Seq: 10, StreamCreated: created}, 11, 0, 0) // caught up: the next one published
	require.NoError(t, stream.Purge(ctx, jetstream.WithPurgeSequence(7)))
	check(Position{}, 7, 0, 0)                               // fresh: from the first message still there, nothing lost to a state
	check(Position{Seq: 6, StreamCreated: created}, 7, 0, 0) // removed after they were applied
	check(Position{Seq: 3, StreamCreated: created}, 7, 0, 1) // 4 to 6 removed before they were applied
	check(Position{Seq: 4, StreamCreated: before}, 7, 1, 1)  // recreated since, and 1 to 6 of the new stream removed unread
	check(Position{Seq: 12}, 7, 1, 0)                        // behind, creation time unknown: from the first message still there
	require.NoError(t, stream.Purge(ctx))
	check(Position{Seq: 10, StreamCreated: created}, 11, 0, 0) // every applied message removed
	check(Position{Seq: 8, StreamCreated: created}, 11, 0, 1)  // 9 and 10 removed unapplied: nothing left
	check(Position{}, 11, 0, 0)                                // fresh, nothing left: the next one published
	check(Position{Seq: 4, StreamCreated: before}, 11, 1, 1)   // recreated since, and all of the new stream removed unread
}

// TestStartSeqStreamWithFirstSeq positions the reading in a stream
// created to number its messages from 100: a state from another stream
// reads it from 100, not from 1, and only what was removed from 100 on is
// a gap.
func TestStartSeqStreamWithFirstSeq(t *testing.T) {
	srv := natstest.Start(t)
	nc, js := srv.Connect(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, FirstSeq: 100})
	require.NoError(t, err)
	c, err := New(DefaultConfig(), 5*time.Minute, nc, zerolog.Nop(), prometheus.NewRegistry(), time.Now)
	require.NoError(t, err)
	for i := range 5 { // 100 to 104
		publishRaw(t, js, "helpdesk.events.x", fmt.Sprint("m-", i), []byte("{}"))
	}
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	created, before := info.Created, info.Created.Add(-time.Hour)
	require.Equal(t, uint64(100), info.State.FirstSeq)
	check := func(applied Position, wantSeq uint64, wantBehind, wantGap float64) {
		t.Helper()
		b0, g0 := regressionCounts(c)
		start, err := c.StartSeq(ctx, stream, applied)
		require.NoError(t, err)
		require.Equal(t, Position{Seq: wantSeq, StreamCreated: created}, start)
		b1, g1 := regressionCounts(c)
		require.Equal(t, wantBehind, b1-b0, "behind")
		require.Equal(t, wantGap, g1-g0, "gap")
	}
	check(Position{}, 100, 0, 0)                                 // fresh
	check(Position{Seq: 101, StreamCreated: created}, 102, 0, 0) // continuing
	check(Position{Seq: 50, StreamCreated: before}, 100, 1, 0)   // recreated since: from its first number, nothing lost
	check(Position{Seq: 50}, 100, 0, 1)                          // creation time unknown: 51 to 99 look removed unapplied
	require.NoError(t, stream.Purge(ctx, jetstream.WithPurgeSequence(103)))
	check(Position{Seq: 50, StreamCreated: before}, 103, 1, 1) // recreated since, 100 to 102 removed unread
	check(Position{}, 103, 0, 0)                               // fresh
}

// TestStreamDeletedAndCreatedAgain deletes the stream under a running
// consumer (logged, nothing counted while it is gone), creates it again and
// publishes more than was read before at once: the new stream is read from
// its first message and counted as behind once.
func TestStreamDeletedAndCreatedAgain(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	r := startConsumer(t, srv, func(c *Config) { c.RegressionCheck = 20 * time.Millisecond })
	opening := func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"e-%d","type":"ticket.opened","ticket_id":"T-%d","occurred_at":"2026-01-01T00:00:00Z"}`, i, i)
	}
	for i := range 3 {
		publishRaw(t, js, "helpdesk.events.ticket.opened", fmt.Sprint("e-", i), opening(i))
	}
	waitUntil(t, 10*time.Second, "3 events", func() bool { return r.events.Load() == 3 })

	require.NoError(t, js.DeleteStream(ctx, "HELPDESK_EVENTS"))
	waitUntil(t, 10*time.Second, "the deletion logged", func() bool {
		return strings.Contains(r.logs.String(), "the stream does not exist any more")
	})
	behind := r.c.metrics.regressions.WithLabelValues("behind")
	require.Equal(t, 0.0, testutil.ToFloat64(behind))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
	require.NoError(t, err)
	for i := 3; i < 8; i++ {
		publishRaw(t, js, "helpdesk.events.ticket.opened", fmt.Sprint("e-", i), opening(i))
	}
	waitUntil(t, 10*time.Second, "all 8 events", func() bool { return r.events.Load() == 8 })
	require.Equal(t, 1.0, testutil.ToFloat64(behind))
	require.Equal(t, 0.0, testutil.ToFloat64(r.c.metrics.regressions.WithLabelValues("gap")))
}
