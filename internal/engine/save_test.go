package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// memStore is a snapshot store in memory that can be made to fail, or to
// block until released.
type memStore struct {
	mu      sync.Mutex // guards the fields below
	data    map[string][]byte
	puts    int // attempts
	fail    bool
	blocked chan struct{} // when not nil, Put waits for it to close
}

func (m *memStore) Put(ctx context.Context, name string, data []byte) error {
	m.mu.Lock()
	m.puts++
	fail, blocked := m.fail, m.blocked
	m.mu.Unlock()
	if blocked != nil {
		<-blocked
	}
	if fail {
		return errors.New("disk full")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[name] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) Get(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[name], nil
}

func (m *memStore) List(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.data {
		names = append(names, n)
	}
	return names, nil
}

func (m *memStore) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, name)
	return nil
}

func (m *memStore) String() string { return "memory" }

func (m *memStore) set(f func(m *memStore)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *memStore) attempts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

// TestSnapshotSchedule runs the engine on a fake clock through a quiet
// night, a failing disk and a writer that is still busy, with a snapshot
// every 30 seconds.
func TestSnapshotSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now() // the bubble's clock
		state, err := kpi.New(kpi.DefaultConfig(), start.UnixNano())
		require.NoError(t, err)
		store := &memStore{data: map[string][]byte{}}
		reg := prometheus.NewRegistry()
		snaps := snapshot.NewManager(store, zerolog.Nop(), reg)
		lastSuccess := func() time.Time {
			g, err := reg.Gather()
			require.NoError(t, err)
			for _, mf := range g {
				if mf.GetName() == "helpdesk_snapshot_last_success_timestamp_seconds" {
					return time.Unix(0, int64(mf.GetMetric()[0].GetGauge().GetValue()*1e9)).UTC()
				}
			}
			t.Fatal("no last success gauge")
			return time.Time{}
		}
		e := New(state, time.Now, Config{Tick: time.Hour, SnapshotEvery: 30 * time.Second, Snapshots: snaps}, zerolog.Nop())
		in := make(chan *ingest.Batch)
		done := make(chan struct{})
		go func() { e.Run(in); close(done) }()
		seq := uint64(0)
		feed := func(id string) {
			seq++
			ev := events.Event{ID: []byte(id), TicketID: []byte(id), Type: events.TicketOpened, OccurredAt: time.Now().UnixNano(), Replies: -1, HandleMillis: -1}
			in <- &ingest.Batch{Events: []events.Event{ev}, Stored: []int64{time.Now().UnixNano()}, LastSeq: seq}
		}
		feed("a")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.Equal(t, 1, store.attempts(), "the first snapshot")
		require.Equal(t, start.Add(30*time.Second).UTC(), lastSuccess())

		// A quiet night: nothing to write, and the state is durable as of
		// each check.
		time.Sleep(8 * time.Hour)
		synctest.Wait()
		require.Equal(t, 1, store.attempts(), "nothing rewritten")
		require.Equal(t, start.Add(30*time.Second+8*time.Hour).UTC(), lastSuccess())

		// The disk fails: the new event's snapshot is retried every
		// interval, with no new event, and the age grows meanwhile.
		store.set(func(m *memStore) { m.fail = true })
		failedFrom := lastSuccess()
		feed("b")
		time.Sleep(90 * time.Second)
		synctest.Wait()
		require.Equal(t, 1+3, store.attempts(), "retried at each of three intervals")
		require.Equal(t, failedFrom, lastSuccess(), "no success while writes fail")
		store.set(func(m *memStore) { m.fail = false })
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.Equal(t, 1+4, store.attempts())
		require.Equal(t, failedFrom.Add(2*time.Minute), lastSuccess())

		// The writer is stuck on a slow disk: the next snapshot waits in
		// line, the one after is skipped, and no check counts as a success
		// until the writes are done.
		release := make(chan struct{})
		store.set(func(m *memStore) { m.blocked = release })
		stuckFrom := lastSuccess()
		feed("c")
		time.Sleep(30 * time.Second) // handed to the writer, which blocks
		feed("d")
		time.Sleep(30 * time.Second) // waits in line
		feed("e")
		time.Sleep(30 * time.Second) // the writer is busy: skipped
		synctest.Wait()
		require.Equal(t, 1+4+1, store.attempts(), "one write in progress")
		require.Equal(t, stuckFrom, lastSuccess())
		store.set(func(m *memStore) { m.blocked = nil })
		close(release)
		synctest.Wait()
		require.Equal(t, 1+4+2, store.attempts(), "the one in line written once the first is done")
		time.Sleep(30 * time.Second) // the skipped state, with "e", is written now
		synctest.Wait()
		require.Equal(t, 1+4+3, store.attempts())
		s, ok, err := snaps.Load(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(5), s.Seq, "the newest snapshot holds every event")

		close(in)
		<-done
	})
}
