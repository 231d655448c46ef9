package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

func openings(from, to int) []message {
	var msgs []message
	for i := from; i < to; i++ {
		id := fmt.Sprintf("reg-%d", i)
		msgs = append(msgs, message{id: id, subject: "helpdesk.events.ticket.opened",
			body: fmt.Appendf(nil, `{"id":%q,"type":"ticket.opened","ticket_id":"T-%d","occurred_at":"2026-11-23T12:00:00Z"}`, id, i)})
	}
	return msgs
}

// TestStreamRegression deletes and recreates the stream, and purges it,
// under a running aggregator: the recreated stream is detected, counted
// and read from its start; events published again with their ids are not
// counted twice; a purge of applied messages changes nothing.
func TestStreamRegression(t *testing.T) {
	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow, func(c *Config) { c.Ingest.RegressionCheck = 100 * time.Millisecond })
	_, js := srv.Connect(t)
	ctx := context.Background()
	waitStream(t, js)
	opened := func(m map[string]float64) float64 {
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})]
	}
	publish(t, js, openings(0, 20), true)
	waitFor(t, 10*time.Second, "20 openings", func() bool { return opened(scrape(t, agg.url)) == 20 })

	// Recreate the stream: sequences start again at 1.
	require.NoError(t, js.DeleteStream(ctx, "HELPDESK_EVENTS"))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	publish(t, js, openings(15, 30), true) // 15–19 again: duplicates
	var m map[string]float64
	waitFor(t, 10*time.Second, "the recreated stream read from its start", func() bool {
		m = scrape(t, agg.url)
		return opened(m) == 30 && m[`helpdesk_events_duplicate_total{}`] == 5
	})
	require.Equal(t, 1.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "behind"})])
	require.Equal(t, 30.0, m[key("helpdesk_open_tickets", map[string]string{"channel": "all", "priority": "all", "team": "all"})])

	// A purge of messages already applied is no regression.
	stream, err := js.Stream(ctx, "HELPDESK_EVENTS")
	require.NoError(t, err)
	require.NoError(t, stream.Purge(ctx))
	publish(t, js, openings(30, 35), true)
	waitFor(t, 10*time.Second, "openings after the purge", func() bool {
		m = scrape(t, agg.url)
		return opened(m) == 35
	})
	require.Equal(t, 1.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "behind"})])
	require.Equal(t, 0.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "gap"})])
}

// TestRecreatedStreamOvertakesThePosition deletes and recreates the stream
// under a running aggregator and publishes more messages at once than it
// had applied, so that the new stream is past the old position before any
// periodic check: the recreation is still found (by the stream's creation
// time), counted once, and the new stream read from its first message.
func TestRecreatedStreamOvertakesThePosition(t *testing.T) {
	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow) // the periodic check every 10s: too slow to matter
	_, js := srv.Connect(t)
	ctx := context.Background()
	waitStream(t, js)
	opened := func(m map[string]float64) float64 {
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})]
	}
	const n, more = 300, 500
	publish(t, js, openings(0, n), true)
	waitFor(t, 10*time.Second, "the first openings", func() bool { return opened(scrape(t, agg.url)) == n })

	require.NoError(t, js.DeleteStream(ctx, "HELPDESK_EVENTS"))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	publish(t, js, openings(n, n+more), true)
	var m map[string]float64
	waitFor(t, 8*time.Second, "every opening of both streams", func() bool {
		m = scrape(t, agg.url)
		return opened(m) == n+more && m[`helpdesk_consumer_pending_messages{}`] == 0
	})
	require.Equal(t, 1.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "behind"})])
	require.Equal(t, 0.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "gap"})])
}

// TestPurgedWhileStoppedIsReadyAtOnce stops the aggregator, publishes
// messages it never applies, purges the stream and starts it again with
// nothing published since: it counts the gap and is ready at once, instead
// of waiting for an event that may not come.
func TestPurgedWhileStoppedIsReadyAtOnce(t *testing.T) {
	srv := natstest.Start(t)
	dataDir := t.TempDir()
	onDisk := func(c *Config) { c.DataDir = dataDir }
	first := startAggregator(t, srv.ClientURL(), testNow, onDisk)
	_, js := srv.Connect(t)
	ctx := context.Background()
	waitStream(t, js)
	opened := func(m map[string]float64) float64 {
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})]
	}
	publish(t, js, openings(0, 100), true)
	waitFor(t, 10*time.Second, "100 openings", func() bool { return opened(scrape(t, first.url)) == 100 })
	require.NoError(t, first.stop())

	publish(t, js, openings(100, 150), true) // never applied
	stream, err := js.Stream(ctx, "HELPDESK_EVENTS")
	require.NoError(t, err)
	require.NoError(t, stream.Purge(ctx))

	second := startAggregator(t, srv.ClientURL(), testNow, onDisk)
	waitFor(t, 10*time.Second, "/readyz 200", func() bool {
		code, err := statusOf(second.url + "/readyz")
		return err == nil && code == http.StatusOK
	})
	m := scrape(t, second.url)
	require.Equal(t, 100.0, opened(m))
	require.Equal(t, 0.0, m[`helpdesk_consumer_pending_messages{}`])
	require.Equal(t, 1.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "gap"})])
	require.Equal(t, 0.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "behind"})])

	// The position moved past the gap: the next start does not count it
	// again.
	require.NoError(t, second.stop())
	third := startAggregator(t, srv.ClientURL(), testNow, onDisk)
	waitFor(t, 10*time.Second, "/readyz 200 again", func() bool {
		code, err := statusOf(third.url + "/readyz")
		return err == nil && code == http.StatusOK
	})
	m = scrape(t, third.url)
	require.Equal(t, 100.0, opened(m))
	require.Equal(t, 0.0, m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "gap"})])
}
