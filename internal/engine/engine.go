// Package engine is the single owner of the aggregation state: one
// goroutine applies decoded batches to a kpi.State and publishes immutable
// snapshots of it for readers.
//
// Readers never touch the state. They get the latest published snapshot
// through an atomic pointer, or ask the loop for a fresh one (Fresh), which
// it builds between batches.
package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// Engine runs the aggregation loop.
type Engine struct {
	state    *kpi.State
	now      func() time.Time
	log      zerolog.Logger
	tick     time.Duration
	snap     atomic.Pointer[kpi.Snapshot]
	requests chan func() // run by the loop, between batches
	ready    atomic.Bool
	done     chan struct{} // closed when Run returns

	appliedSeq uint64 // stream sequence of the last applied message
	pending    uint64 // stream messages after appliedSeq
}

// New returns an engine over state. now is the clock the windows follow;
// tick is how often a snapshot is published without being asked.
func New(state *kpi.State, now func() time.Time, tick time.Duration, log zerolog.Logger) *Engine {
	e := &Engine{
		state:    state,
		now:      now,
		log:      log.With().Str("component", "engine").Logger(),
		tick:     tick,
		requests: make(chan func()),
		done:     make(chan struct{}),
	}
	e.publish()
	return e
}

// Run applies batches from in until in is closed, publishing a snapshot
// every tick and whenever Fresh asks. It returns after the last batch is
// applied and a final snapshot published. To stop it, stop the producer of
// in, which closes in: so every batch handed over is applied.
func (e *Engine) Run(in <-chan *ingest.Batch) {
	defer close(e.done)
	t := time.NewTicker(e.tick)
	defer t.Stop()
	for {
		select {
		case b, ok := <-in:
			if !ok {
				e.publish()
				return
			}
			e.apply(b)
		case <-t.C:
			e.publish()
		case f := <-e.requests:
			f()
		}
	}
}

func (e *Engine) apply(b *ingest.Batch) {
	e.state.Advance(e.now().UnixNano())
	for i := range b.Events {
		e.state.Apply(&b.Events[i])
	}
	for _, r := range b.Rejected {
		e.state.Reject(r)
	}
	if b.LastSeq > 0 {
		e.appliedSeq = b.LastSeq
	}
	e.pending = b.Pending
	b.Release()
	if e.pending == 0 && !e.ready.Load() {
		e.ready.Store(true)
		e.log.Info().Uint64("stream_seq", e.appliedSeq).Msg("caught up with the stream")
	}
}

func (e *Engine) publish() *kpi.Snapshot {
	s := e.state.Snapshot(e.now().UnixNano())
	s.AppliedSeq, s.PendingMessages = e.appliedSeq, e.pending
	e.snap.Store(s)
	return s
}

// Latest returns the most recently published snapshot.
func (e *Engine) Latest() *kpi.Snapshot { return e.snap.Load() }

// do runs f on the loop's goroutine, which owns the state, and reports
// whether it ran before the loop stopped or ctx ended.
func (e *Engine) do(ctx context.Context, f func()) bool {
	ran := make(chan struct{})
	select {
	case e.requests <- func() { f(); close(ran) }:
		select {
		case <-ran:
			return true
		case <-ctx.Done():
		}
	case <-e.done:
	case <-ctx.Done():
	}
	return false
}

// Fresh returns a snapshot that includes every batch applied so far. When
// the loop has stopped, or ctx ends first, it returns the latest one.
func (e *Engine) Fresh(ctx context.Context) *kpi.Snapshot {
	var s *kpi.Snapshot
	if e.do(ctx, func() { s = e.publish() }) {
		return s
	}
	return e.Latest()
}

// AtRisk lists up to limit open tickets at risk of an SLA breach or in
// breach, soonest deadline first, as of now (Unix ns, also returned).
func (e *Engine) AtRisk(ctx context.Context, limit int) ([]kpi.AtRisk, int64, error) {
	var list []kpi.AtRisk
	var now int64
	if !e.do(ctx, func() {
		now = e.now().UnixNano()
		e.state.Advance(now)
		list = e.state.AtRiskTickets(limit)
	}) {
		return nil, 0, errors.New("the aggregator is stopping or busy; try again")
	}
	return list, now, nil
}

// Ready reports whether the engine has caught up with the stream once.
func (e *Engine) Ready() bool { return e.ready.Load() }
