package ingest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// The watcher (Consumer.watch) takes its stream and the reading's
// iterator as the jetstream interfaces, so its tests give it fakes that do
// no network I/O, and run it in a synctest bubble: its ticker runs on the
// bubble's fake clock, time.Sleep moves that clock at once, and
// synctest.Wait returns once the watcher is blocked again, so each step is
// exact, with no real ticker and no polling. (A real NATS connection could
// not be used in the bubble: its reading goroutine lives outside it.)

// fakeStream is a jetstream.Stream whose Info answers are scripted, one
// per call; only Info is implemented.
type fakeStream struct {
	jetstream.Stream // nil: any other method panics

	mu      sync.Mutex
	calls   int
	answers []answer // the last one repeats
	w       *watched // what the watcher watches, for answers that change it
}

// answer is one Info call's result.
type answer func(w *watched) (*jetstream.StreamInfo, error)

func (f *fakeStream) Info(context.Context, ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	f.mu.Lock()
	i := min(f.calls, len(f.answers)-1)
	f.calls++
	answer := f.answers[i]
	f.mu.Unlock()
	return answer(f.w)
}

func (f *fakeStream) infoCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeIterator is a jetstream.MessagesContext that counts Stop calls.
type fakeIterator struct {
	jetstream.MessagesContext // nil: only Stop is implemented
	stops                     atomic.Int32
}

func (f *fakeIterator) Stop() { f.stops.Add(1) }

func info(created time.Time, first, last uint64) answer {
	return func(*watched) (*jetstream.StreamInfo, error) {
		return &jetstream.StreamInfo{Created: created, State: jetstream.StreamState{FirstSeq: first, LastSeq: last}}, nil
	}
}

func fails(err error) answer {
	return func(*watched) (*jetstream.StreamInfo, error) { return nil, err }
}

// watching is a watcher running in the current bubble.
type watching struct {
	c      *Consumer
	logs   *lockedBuffer
	stream *fakeStream
	it     *fakeIterator
	w      *watched
	cancel context.CancelFunc
	done   chan struct{}
}

const watchEvery = 10 * time.Second

var watchCreated = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// startWatching runs the watcher over a stream created at watchCreated,
// with delivered messages up to sequence 5 and the answers given; it must
// be called inside a bubble.
func startWatching(t *testing.T, answers ...answer) *watching {
	cfg := DefaultConfig()
	cfg.RegressionCheck = watchEvery
	logs := &lockedBuffer{}
	wt := &watching{
		c:      &Consumer{cfg: cfg, log: zerolog.New(logs), now: time.Now, metrics: newMetrics(prometheus.NewRegistry())},
		logs:   logs,
		stream: &fakeStream{answers: answers},
		it:     &fakeIterator{},
		w:      &watched{created: watchCreated},
		done:   make(chan struct{}),
	}
	wt.w.delivered.Store(5)
	wt.stream.w = wt.w
	// t.Context ends before the bubble waits for its goroutines, so a
	// test that fails half-way does not leave the watcher running.
	ctx, cancel := context.WithCancel(t.Context())
	wt.cancel = cancel
	go func() {
		defer close(wt.done)
		wt.c.watch(ctx, wt.stream, wt.w, wt.it)
	}()
	return wt
}

// after moves the bubble's clock by d and waits until the watcher is
// blocked again.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (wt *watching) returned() bool {
	select {
	case <-wt.done:
		return true
	default:
		return false
	}
}

// stop cancels the watcher and waits until it has returned.
func (wt *watching) stop(t *testing.T) {
	wt.cancel()
	synctest.Wait()
	require.True(t, wt.returned(), "the watcher returns once its context ends")
}

func (wt *watching) regressions() (behind, gap float64) { return regressionCounts(wt.c) }

// TestWatchStreamUnchanged: the watcher asks for the stream's info once
// every RegressionCheck, not before the first has passed, and leaves a
// stream that continues alone.
func TestWatchStreamUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wt := startWatching(t, info(watchCreated, 1, 5))
		after(watchEvery - time.Nanosecond)
		require.Equal(t, 0, wt.stream.infoCalls(), "nothing before the first interval")
		after(time.Nanosecond)
		require.Equal(t, 1, wt.stream.infoCalls())
		after(3 * watchEvery)
		require.Equal(t, 4, wt.stream.infoCalls(), "once per interval")
		require.Zero(t, wt.it.stops.Load())
		require.Nil(t, wt.w.restartAt.Load())
		behind, gap := wt.regressions()
		require.Zero(t, behind)
		require.Zero(t, gap)
		wt.stop(t)
		require.Equal(t, 4, wt.stream.infoCalls(), "no call after the context ended")
	})
}

// TestWatchFindsRegressions: a stream found recreated, or behind what
// was delivered, stops the reading once, counted as behind (and as a gap
// when the new stream's first messages are gone already), with where to
// read again; then the watcher is done.
func TestWatchFindsRegressions(t *testing.T) {
	recreated := watchCreated.Add(time.Hour)
	cases := []struct {
		name        string
		answer      answer
		restartAt   Position
		behind, gap float64
		log         string
	}{
		{"recreated", info(recreated, 1, 2), Position{Seq: 1, StreamCreated: recreated}, 1, 0,
			"the stream was deleted and created again"},
		{"recreated, its first messages removed", info(recreated, 4, 9), Position{Seq: 4, StreamCreated: recreated}, 1, 1,
			`"from_seq":1,"to_seq":3`},
		{"recreated, every message removed", info(recreated, 8, 7), Position{Seq: 8, StreamCreated: recreated}, 1, 1,
			`"from_seq":1,"to_seq":7`},
		{"behind what was delivered", info(watchCreated, 1, 3), Position{Seq: 1, StreamCreated: watchCreated}, 1, 0,
			"the stream went behind what was applied"},
		{"behind, purged too", info(watchCreated, 3, 4), Position{Seq: 3, StreamCreated: watchCreated}, 1, 0,
			"the stream went behind what was applied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Twice unchanged, then the regression.
				wt := startWatching(t, info(watchCreated, 1, 5), info(watchCreated, 1, 5), tc.answer)
				after(2 * watchEvery)
				require.Zero(t, wt.it.stops.Load())
				require.False(t, wt.returned())
				after(watchEvery)
				require.Equal(t, int32(1), wt.it.stops.Load(), "the reading is stopped")
				require.True(t, wt.returned(), "the watcher is done")
				require.Equal(t, &tc.restartAt, wt.w.restartAt.Load())
				behind, gap := wt.regressions()
				require.Equal(t, tc.behind, behind, "behind")
				require.Equal(t, tc.gap, gap, "gap")
				require.Contains(t, wt.logs.String(), tc.log)
				after(5 * watchEvery)
				require.Equal(t, 3, wt.stream.infoCalls(), "no more checks")
				wt.stop(t)
			})
		})
	}
}

// TestWatchDeliveryDuringCheck: the watcher reads what was delivered
// before it asks for the info, so a message stored and delivered while the
// info is on its way (the info says 5, the reading is at 6 by the time it
// arrives) is not taken for the stream going back.
func TestWatchDeliveryDuringCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wt := startWatching(t, func(w *watched) (*jetstream.StreamInfo, error) {
			w.delivered.Store(6) // delivered meanwhile
			return info(watchCreated, 1, 5)(w)
		}, info(watchCreated, 1, 6), info(watchCreated, 1, 5))
		after(2 * watchEvery)
		require.Zero(t, wt.it.stops.Load())
		behind, _ := wt.regressions()
		require.Zero(t, behind)
		// The third check sees 5 with 6 delivered before it asked: behind.
		after(watchEvery)
		require.Equal(t, int32(1), wt.it.stops.Load())
		behind, _ = wt.regressions()
		require.Equal(t, 1.0, behind)
		wt.stop(t)
	})
}

// TestWatchStreamGoneAndBack: a stream that does not exist is logged once
// while it stays gone, errors are asked again at the next interval, and a
// stream that exists again (the same one: it was not recreated) is logged
// and watched on; nothing is counted, the reading is not stopped. Gone a
// second time, it is logged again.
func TestWatchStreamGoneAndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wt := startWatching(t,
			fails(jetstream.ErrStreamNotFound), fails(jetstream.ErrStreamNotFound),
			fails(nats.ErrTimeout), // still unknown: not logged again
			fails(jetstream.ErrStreamNotFound),
			info(watchCreated, 1, 5), info(watchCreated, 1, 5),
			fails(jetstream.ErrStreamNotFound))
		goneLogged := func() int { return strings.Count(wt.logs.String(), "the stream does not exist any more") }
		backLogged := func() int { return strings.Count(wt.logs.String(), "the stream exists again") }

		after(4 * watchEvery)
		require.Equal(t, 4, wt.stream.infoCalls())
		require.Equal(t, 1, goneLogged(), "logged once while gone")
		require.Zero(t, backLogged())
		after(2 * watchEvery)
		require.Equal(t, 1, backLogged())
		after(watchEvery)
		require.Equal(t, 2, goneLogged(), "gone again")
		require.Zero(t, wt.it.stops.Load())
		require.Nil(t, wt.w.restartAt.Load())
		behind, gap := wt.regressions()
		require.Zero(t, behind)
		require.Zero(t, gap)
		wt.stop(t)
	})
}

// TestWatchRegressionAlreadyFound: when the reading found the regression
// first (its check before a new consumer's first message), the watcher
// still stops the iterator but neither counts it again nor changes where
// to read again.
func TestWatchRegressionAlreadyFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recreated := watchCreated.Add(time.Hour)
		wt := startWatching(t, info(recreated, 1, 2))
		first := &Position{Seq: 1, StreamCreated: recreated}
		wt.w.restartAt.Store(first)
		after(watchEvery)
		require.Equal(t, int32(1), wt.it.stops.Load())
		require.True(t, wt.returned())
		require.Same(t, first, wt.w.restartAt.Load())
		behind, gap := wt.regressions()
		require.Zero(t, behind)
		require.Zero(t, gap)
		require.NotContains(t, wt.logs.String(), "deleted and created again")
	})
}

// TestWatchErrorsNotCounted: other errors (a timeout, a cancelled
// request) are neither logged as the stream gone nor counted.
func TestWatchErrorsNotCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wt := startWatching(t, fails(nats.ErrTimeout), fails(errors.New("connection closed")), info(watchCreated, 1, 5))
		after(3 * watchEvery)
		require.Equal(t, 3, wt.stream.infoCalls())
		require.NotContains(t, wt.logs.String(), "does not exist")
		require.Zero(t, wt.it.stops.Load())
		wt.stop(t)
	})
}
