package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// processLocal are series that describe one process (its build, its
// snapshots, the HTTP requests it answered), not the KPIs: they legitimately differ between a restarted
// and an uninterrupted run.
func processLocal(k string) bool {
	for _, p := range []string{"helpdesk_build_info", "helpdesk_snapshot_", "helpdesk_events_deadlettered_total", "helpdesk_deadletter_", "helpdesk_stream_regressions_total", "helpdesk_ingest_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return !strings.HasPrefix(k, "helpdesk_")
}

// TestRestartFromSnapshot stops the aggregator halfway (it writes a final
// snapshot), publishes the rest while it is down, starts it again on the
// same data directory (or object store bucket), and expects exactly the
// metrics of an uninterrupted run: nothing lost, nothing counted twice.
func TestRestartFromSnapshot(t *testing.T) {
	sc := newScenario(11, 500)
	want := runScenario(t, sc, sc.events)
	for _, store := range []string{"dir", "objectstore"} {
		t.Run(store, func(t *testing.T) { testRestartFromSnapshot(t, sc, want, store) })
	}
}

func testRestartFromSnapshot(t *testing.T, sc *scenario, want map[string]float64, store string) {
	srv := natstest.Start(t)
	dataDir := t.TempDir()
	onDisk := func(c *Config) { c.DataDir, c.SnapshotStore = dataDir, store }
	first := startAggregator(t, srv.ClientURL(), testNow, onDisk)
	_, js := srv.Connect(t)
	waitStream(t, js)
	half := len(sc.events) / 2
	publish(t, js, sc.events[:half], true)
	publish(t, js, []message{sc.late}, true)
	waitFor(t, 30*time.Second, "first half applied", func() bool {
		m := scrape(t, first.url)
		return m[`helpdesk_consumer_pending_messages{}`] == 0 && handled(m) == half+1
	})
	require.NoError(t, first.stop())
	if store == "dir" {
		entries, err := os.ReadDir(filepath.Join(dataDir, "snapshots"))
		require.NoError(t, err)
		require.Len(t, entries, 1, "the final snapshot")
	} else {
		bucket, err := js.ObjectStore(context.Background(), "HELPDESK_SNAPSHOTS")
		require.NoError(t, err)
		objects, err := bucket.List(context.Background())
		require.NoError(t, err)
		require.Len(t, objects, 1, "the final snapshot")
		_, err = os.Stat(filepath.Join(dataDir, "snapshots"))
		require.True(t, os.IsNotExist(err), "nothing written to the data directory")
	}
	// Remove what the snapshot holds from the stream: the restarted
	// aggregator can only get it right from the snapshot.
	stream, err := js.Stream(context.Background(), "HELPDESK_EVENTS")
	require.NoError(t, err)
	require.NoError(t, stream.Purge(context.Background(), jetstream.WithPurgeSequence(uint64(half+2))))
	info, err := stream.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(0), info.State.Msgs)

	// While it is down: the rest of the stream, poison and duplicates.
	for i, p := range poison() {
		publish(t, js, []message{{id: "poison-" + string(rune('a'+i)), subject: "helpdesk.events.x", body: []byte(p.body)}}, true)
	}
	publish(t, js, sc.events[half:], true)
	publish(t, js, sc.duplicates, false)

	second := startAggregator(t, srv.ClientURL(), testNow, onDisk)
	total := len(sc.events) + 1 + len(poison()) + len(sc.duplicates)
	got := waitHandled(t, second.url, total)
	for k, v := range want {
		if !processLocal(k) {
			require.Contains(t, got, k)
			require.Equal(t, v, got[k], k)
		}
	}
	for k := range got {
		if !processLocal(k) {
			require.Contains(t, want, k)
		}
	}
	require.Greater(t, got[`helpdesk_snapshot_last_success_timestamp_seconds{}`], 0.0)
}

// TestNATSServerRestart restarts the NATS server (same port, same store)
// in the middle of the stream: the aggregator reconnects and resumes, and
// ends with exactly the metrics of an uninterrupted run.
func TestNATSServerRestart(t *testing.T) {
	sc := newScenario(13, 400)
	want := runScenario(t, sc, sc.events)

	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow)
	_, js := srv.Connect(t)
	waitStream(t, js)
	half := len(sc.events) / 2
	publish(t, js, sc.events[:half], true)
	publish(t, js, []message{sc.late}, true)
	srv.Restart(t) // whatever the aggregator had not read yet is read after
	_, js = srv.Connect(t)
	for i, p := range poison() {
		publish(t, js, []message{{id: "poison-" + string(rune('a'+i)), subject: "helpdesk.events.x", body: []byte(p.body)}}, true)
	}
	publish(t, js, sc.events[half:], true)
	publish(t, js, sc.duplicates, false)
	total := len(sc.events) + 1 + len(poison()) + len(sc.duplicates)
	got := waitHandled(t, agg.url, total)
	for k, v := range want {
		if !processLocal(k) {
			require.Equal(t, v, got[k], k)
		}
	}
}

// TestRestartAfterStreamRecreations recreates the stream twice under a
// running aggregator that snapshots as it goes (300 events, 500 in the
// second stream, 100 in the third), stops it, publishes 450 more to the
// third stream and starts it again: the snapshot written last, of the
// third stream at sequence 100, is restored, not the older one at 500 of
// the second stream, and the third stream is replayed after it.
func TestRestartAfterStreamRecreations(t *testing.T) {
	for _, store := range []string{"dir", "objectstore"} {
		t.Run(store, func(t *testing.T) { testRestartAfterStreamRecreations(t, store) })
	}
}

func testRestartAfterStreamRecreations(t *testing.T, store string) {
	srv := natstest.Start(t)
	dataDir := t.TempDir()
	cfg := func(c *Config) {
		c.DataDir, c.SnapshotStore, c.SnapshotInterval = dataDir, store, time.Second
		c.Ingest.RegressionCheck = 50 * time.Millisecond
	}
	first := startAggregator(t, srv.ClientURL(), testNow, cfg)
	_, js := srv.Connect(t)
	ctx := context.Background()
	waitStream(t, js)
	opened := func(m map[string]float64) float64 {
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})]
	}
	behind := func(m map[string]float64) float64 {
		return m[key("helpdesk_stream_regressions_total", map[string]string{"kind": "behind"})]
	}
	// snapshotted waits for a snapshot written after everything so far
	// was applied.
	snapshotted := func() {
		t.Helper()
		before := scrape(t, first.url)[`helpdesk_snapshot_last_success_timestamp_seconds{}`]
		waitFor(t, 10*time.Second, "a snapshot", func() bool {
			return scrape(t, first.url)[`helpdesk_snapshot_last_success_timestamp_seconds{}`] > before
		})
	}
	recreate := func(times float64) {
		t.Helper()
		require.NoError(t, js.DeleteStream(ctx, "HELPDESK_EVENTS"))
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, Storage: jetstream.FileStorage})
		require.NoError(t, err)
		waitFor(t, 10*time.Second, "the recreation noticed", func() bool { return behind(scrape(t, first.url)) == times })
	}
	publish(t, js, openings(0, 300), true)
	waitFor(t, 10*time.Second, "300 openings", func() bool { return opened(scrape(t, first.url)) == 300 })
	snapshotted()
	recreate(1)
	publish(t, js, openings(300, 800), true)
	waitFor(t, 10*time.Second, "800 openings", func() bool { return opened(scrape(t, first.url)) == 800 })
	snapshotted() // of the second stream at sequence 500
	recreate(2)
	publish(t, js, openings(800, 900), true)
	waitFor(t, 10*time.Second, "900 openings", func() bool { return opened(scrape(t, first.url)) == 900 })
	require.NoError(t, first.stop()) // the final snapshot: the third stream at sequence 100

	publish(t, js, openings(900, 1350), true) // the third stream reaches 550, past 500
	second := startAggregator(t, srv.ClientURL(), testNow, cfg)
	var m map[string]float64
	waitFor(t, 10*time.Second, "every opening", func() bool {
		m = scrape(t, second.url)
		return opened(m) == 1350 && m[`helpdesk_consumer_pending_messages{}`] == 0
	})
	require.Equal(t, 0.0, behind(m), "the restored snapshot is of the current stream")
	require.Equal(t, 1350.0, m[key("helpdesk_open_tickets", map[string]string{"channel": "all", "priority": "all", "team": "all"})])
}
