package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
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

func (m *memStore) Put(_ context.Context, name string, data []byte) error {
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

func (m *memStore) Get(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[name], nil
}

func (m *memStore) List(_ context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.data {
		names = append(names, n)
	}
	return names, nil
}

func (m *memStore) Delete(_ context.Context, name string) error {
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
		e := New(state, time.Now, Config{PublishEvery: time.Hour, SaveEvery: 30 * time.Second, Snapshots: snaps}, zerolog.Nop())
		in := make(chan *events.Batch)
		done := make(chan struct{})
		go func() { e.Run(in); close(done) }()
		seq := uint64(0)
		feed := func(id string) {
			seq++
			ev := events.Event{ID: []byte(id), TicketID: []byte(id), Type: events.TicketOpened, OccurredAt: time.Now().UnixNano(), Replies: -1, HandleMillis: -1}
			in <- &events.Batch{Events: []events.Event{ev}, Stored: []int64{time.Now().UnixNano()}, LastSeq: seq}
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

		// The store is stuck on a slow disk: the next intervals are
		// skipped, and no check counts as a success until it is done;
		// then the next interval writes the newest state.
		release := make(chan struct{})
		store.set(func(m *memStore) { m.blocked = release })
		stuckFrom := lastSuccess()
		feed("c")
		time.Sleep(30 * time.Second) // handed to the store, which blocks
		feed("d")
		time.Sleep(30 * time.Second) // still writing: skipped
		feed("e")
		time.Sleep(30 * time.Second) // skipped
		synctest.Wait()
		require.Equal(t, 1+4+1, store.attempts(), "one write in progress, none started meanwhile")
		require.Equal(t, stuckFrom, lastSuccess())
		store.set(func(m *memStore) { m.blocked = nil })
		close(release)
		synctest.Wait()
		require.Equal(t, stuckFrom.Add(90*time.Second), lastSuccess(), "the stuck write (of c) succeeded")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.Equal(t, 1+4+2, store.attempts(), "the newest state, with e, written")
		s, ok, err := snaps.Load(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(5), s.Seq, "the newest snapshot holds every event")

		close(in)
		<-done
	})
}

// stuckStore takes no bytes until released, then reads what it is given.
type stuckStore struct {
	memStore
	release chan struct{}
}

func (s *stuckStore) PutFrom(ctx context.Context, name string, r io.Reader) error {
	<-s.release
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.Put(ctx, name, data)
}

// TestSnapshotStoreStuck: a store that takes no bytes (a hung disk) holds
// the loop for at most the stall timeout; the snapshot fails, is counted,
// and the loop goes on applying events.
func TestSnapshotStoreStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state, err := kpi.New(kpi.DefaultConfig(), time.Now().UnixNano())
		require.NoError(t, err)
		store := &stuckStore{memStore: memStore{data: map[string][]byte{}}, release: make(chan struct{})}
		reg := prometheus.NewRegistry()
		snaps := snapshot.NewManager(store, zerolog.Nop(), reg)
		e := New(state, time.Now, Config{PublishEvery: time.Hour, SaveEvery: 30 * time.Second, Snapshots: snaps}, zerolog.Nop())
		in := make(chan *events.Batch)
		done := make(chan struct{})
		go func() { e.Run(in); close(done) }()
		ev := events.Event{ID: []byte("a"), TicketID: []byte("a"), Type: events.TicketOpened, OccurredAt: time.Now().UnixNano(), Replies: -1, HandleMillis: -1}
		in <- &events.Batch{Events: []events.Event{ev}, Stored: []int64{time.Now().UnixNano()}, LastSeq: 1}
		start := time.Now()
		time.Sleep(30 * time.Second) // the snapshot starts; the store takes nothing
		ev2 := ev
		ev2.ID, ev2.TicketID = []byte("b"), []byte("b")
		in <- &events.Batch{Events: []events.Event{ev2}, Stored: []int64{time.Now().UnixNano()}, LastSeq: 2}
		require.Equal(t, 40*time.Second, time.Since(start), "the loop took the next batch once the 10s stall timeout gave up on the store")
		close(store.release)
		synctest.Wait()
		failures := 0.0
		g, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range g {
			if mf.GetName() == "helpdesk_snapshot_failures_total" {
				failures = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		require.Equal(t, 1.0, failures)
		require.Equal(t, int64(2), e.Fresh(context.Background()).Applied[events.TicketOpened])
		close(in)
		<-done
	})
}

// TestPublishEvery: the engine publishes a view for readers every
// PublishEvery without being asked, on the fake clock; a view includes the
// batches applied before it.
func TestPublishEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		state, err := kpi.New(kpi.DefaultConfig(), start.UnixNano())
		require.NoError(t, err)
		e := New(state, time.Now, Config{PublishEvery: time.Second}, zerolog.Nop())
		in := make(chan *events.Batch)
		done := make(chan struct{})
		go func() { e.Run(in); close(done) }()
		require.Equal(t, start.UnixNano(), e.Latest().Time, "the view of New")
		ev := events.Event{ID: []byte("a"), TicketID: []byte("a"), Type: events.TicketOpened, OccurredAt: start.UnixNano(), Replies: -1, HandleMillis: -1}
		// More is pending (a catch-up), so nothing publishes the view but
		// the tick (catching up does, at once).
		in <- &events.Batch{Events: []events.Event{ev}, Stored: []int64{start.UnixNano()}, LastSeq: 1, Pending: 1}
		require.Equal(t, int64(0), e.Latest().Applied[events.TicketOpened], "applied, not yet published: the reader waits for a tick")
		time.Sleep(time.Second)
		synctest.Wait()
		v := e.Latest()
		require.Equal(t, start.Add(time.Second).UnixNano(), v.Time)
		require.Equal(t, int64(1), v.Applied[events.TicketOpened])
		time.Sleep(3 * time.Second)
		synctest.Wait()
		require.Equal(t, start.Add(4*time.Second).UnixNano(), e.Latest().Time, "one view a second")
		close(in)
		<-done
	})
}
