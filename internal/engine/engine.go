// Package engine is the single owner of the aggregation state: one
// goroutine applies decoded batches to a kpi.State and publishes immutable
// views of it (kpi.View) for readers.
//
// Readers never touch the state. They get the latest published view
// through an atomic pointer, or ask the loop for a fresh one (Fresh), which
// it builds between batches.
//
// The engine also makes the state durable: every so often it encodes the
// state with the stream sequence it includes (on the loop, between
// batches), straight into the snapshot store a megabyte at a time; the
// store syncs and renames off the loop, so that ingest does not wait for
// the disk. On stop it writes a last snapshot.
package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// Config says how the engine publishes and persists.
type Config struct {
	// PublishEvery is how often a view is published for readers unasked.
	PublishEvery time.Duration
	// SaveEvery is how often the state is made durable (a snapshot in
	// Snapshots); zero never.
	SaveEvery time.Duration
	// Snapshots stores the durable snapshots; nil keeps none.
	Snapshots *snapshot.Manager
	// AppliedSeq is the stream sequence the initial state includes.
	AppliedSeq uint64
	// StreamCreated is when the stream AppliedSeq counts in was created;
	// zero when unknown.
	StreamCreated time.Time
}

// Engine runs the aggregation loop.
type Engine struct {
	cfg      Config
	state    *kpi.State
	now      func() time.Time
	log      zerolog.Logger
	snap     atomic.Pointer[kpi.View]
	requests chan func()   // run by the loop, between batches
	ready    bool          // caught up once; only the loop reads and writes it (Ready reads the view)
	done     chan struct{} // closed when Run returns

	// writing counts snapshots being stored (one at most); writeFailed
	// says the last one failed. Both are shared with the goroutine that
	// waits for the store; inFlight waits for it.
	writing     atomic.Int32
	writeFailed atomic.Bool
	inFlight    sync.WaitGroup

	appliedSeq uint64 // stream sequence of the last applied message
	pending    uint64 // stream messages after appliedSeq
	savedSeq   uint64 // stream sequence of the last snapshot started

	// streamCreated identifies the stream appliedSeq counts in.
	streamCreated time.Time

	// Catch-up progress, logged every progressEvery until ready.
	progressAt  time.Time
	progressSeq uint64

	// Evictions at the memory bounds, logged at most every evictionLogEvery.
	evictedLogged [kpi.NumEvictions]int64
	evictionLogAt time.Time

	// overflowLogged says, by kpi.OverflowChannel and kpi.OverflowTeam,
	// whether values counted as other were logged: once per process.
	overflowLogged [2]bool
}

const evictionLogEvery = time.Minute

const progressEvery = 5 * time.Second

// New returns an engine over state. now is the clock the windows follow.
func New(state *kpi.State, now func() time.Time, cfg Config, log zerolog.Logger) *Engine {
	e := &Engine{
		cfg:        cfg,
		state:      state,
		now:        now,
		log:        log.With().Str("component", "engine").Logger(),
		requests:   make(chan func()),
		done:       make(chan struct{}),
		appliedSeq: cfg.AppliedSeq,
		savedSeq:   cfg.AppliedSeq,

		streamCreated: cfg.StreamCreated,
	}
	e.publish()
	return e
}

// Run applies batches from in until in is closed, publishing a view
// every PublishEvery and whenever Fresh asks. It returns after the last batch is
// applied, a final view published and the final durable snapshot
// written. To stop it, stop the producer of in, which closes in: so every
// batch handed over is applied.
func (e *Engine) Run(in <-chan *events.Batch) {
	defer close(e.done)
	t := time.NewTicker(e.cfg.PublishEvery)
	defer t.Stop()
	var save <-chan time.Time
	if e.cfg.Snapshots != nil && e.cfg.SaveEvery > 0 {
		st := time.NewTicker(e.cfg.SaveEvery)
		defer st.Stop()
		save = st.C
	}
	for {
		select {
		case b, ok := <-in:
			if !ok {
				e.publish()
				e.inFlight.Wait()
				if e.cfg.Snapshots != nil {
					e.save(true) // the last one, waited for
				}
				return
			}
			e.apply(b)
		case <-t.C:
			e.publish()
		case <-save:
			e.save(false)
		case f := <-e.requests:
			f()
		}
	}
}

// save makes the state durable when it changed since the last snapshot,
// or that one failed: a failed snapshot is retried on the next interval,
// not only after the next event. When nothing changed and the last
// snapshot is stored, the check counts as a success, so that the age of
// the durable state does not grow through a quiet night. While a snapshot
// is still being stored, the interval is skipped.
//
// The state is encoded on the loop, straight into the store (package
// snapshot's SaveStream), a megabyte at a time, so it is never held whole
// in memory; the store finishes (sync, rename) off the loop, unless wait
// is set.
func (e *Engine) save(wait bool) {
	if e.writing.Load() > 0 {
		e.log.Warn().Msg("previous snapshot still being written; skipping this one")
		return
	}
	if e.writeFailed.Load() {
		e.savedSeq = 0
	}
	if e.appliedSeq == e.savedSeq {
		e.cfg.Snapshots.Confirm()
		return
	}
	e.writing.Add(1)
	e.inFlight.Add(1)
	seq := e.appliedSeq
	result := e.cfg.Snapshots.SaveStream(context.Background(), snapshot.Header{Seq: seq, TakenAt: e.now(), StreamCreated: e.streamCreated}, e.state.EncodeTo)
	e.savedSeq = seq
	finish := func() {
		defer e.inFlight.Done()
		err := <-result
		e.writeFailed.Store(err != nil)
		e.writing.Add(-1)
		if err != nil {
			e.log.Error().Err(err).Msg("snapshot failed; the previous one stays in place, and the stream still holds everything after it; retrying on the next interval")
		}
	}
	if wait {
		finish()
		return
	}
	go finish()
}

func (e *Engine) apply(b *events.Batch) {
	now := e.now().UnixNano()
	e.state.Advance(now)
	for i := range b.Events {
		// A message arrives when the stream stored it, or at now if that
		// is earlier (a clock set back with -as-of), as ingest judges
		// events from the future.
		e.state.Arrive(min(b.Stored[i], now))
		e.state.Apply(&b.Events[i])
	}
	for _, r := range b.Rejected {
		e.state.Reject(r)
	}
	if b.LastSeq > 0 {
		e.appliedSeq = b.LastSeq
		if !b.StreamCreated.Equal(e.streamCreated) {
			// A new stream: the next snapshot is due whatever its sequence.
			e.streamCreated, e.savedSeq = b.StreamCreated, 0
		}
	}
	e.pending = b.Pending
	b.Release()
	switch {
	case e.ready:
	case e.pending == 0:
		e.ready = true
		e.publish() // readers see the counters from now on
		e.log.Info().Uint64("stream_seq", e.appliedSeq).Msg("caught up with the stream")
	case e.progressAt.IsZero():
		e.progressAt, e.progressSeq = time.Now(), e.appliedSeq
	case time.Since(e.progressAt) >= progressEvery:
		rate := float64(e.appliedSeq-e.progressSeq) / time.Since(e.progressAt).Seconds()
		e.log.Info().Uint64("stream_seq", e.appliedSeq).Uint64("pending", e.pending).
			Float64("msgs_per_second", rate).Msg("catching up with the stream")
		e.progressAt, e.progressSeq = time.Now(), e.appliedSeq
	}
}

func (e *Engine) publish() *kpi.View {
	now := e.now().UnixNano()
	if e.ready && e.pending == 0 {
		// Nothing is waiting in the stream: its time is the wall clock's.
		// During a catch-up the messages' own times move the counters'
		// clock (kpi.State.Arrive), as they did when first read.
		e.state.Tick(now)
	}
	s := e.state.View(now)
	s.AppliedSeq, s.PendingMessages, s.CaughtUp = e.appliedSeq, e.pending, e.ready
	e.snap.Store(s)
	if s.Evicted != e.evictedLogged && time.Since(e.evictionLogAt) >= evictionLogEvery {
		e.log.Warn().Int64("tickets_forgotten", s.Evicted[kpi.EvictedTracked]-e.evictedLogged[kpi.EvictedTracked]).
			Int64("held_events_orphaned", s.Evicted[kpi.EvictedHeld]-e.evictedLogged[kpi.EvictedHeld]).
			Int64("ticketless_ids_forgotten", s.Evicted[kpi.EvictedIDs]-e.evictedLogged[kpi.EvictedIDs]).
			Msg("memory bounds reached: the oldest tickets, held events or ticketless ids were pushed out; raise max_tracked_tickets, max_held_events or max_ticketless_ids if this repeats")
		e.evictedLogged, e.evictionLogAt = s.Evicted, time.Now()
	}
	e.logOverflow(s)
	return s
}

// logOverflow logs, the first time per label, that values of the channel
// or team label are being counted as other, and how to break them out.
func (e *Engine) logOverflow(s *kpi.View) {
	hints := [2]string{
		kpi.OverflowChannel: `openings with a channel outside the configured channels are counted as channel "other"; add the channel to channels to see it on its own`,
		kpi.OverflowTeam:    `openings with a team beyond max_teams (or outside teams, when listed) are counted as team "other"; raise max_teams (up to 250) or list the teams`,
	}
	for i, label := range [2]string{kpi.OverflowChannel: "channel", kpi.OverflowTeam: "team"} {
		if s.LabelOverflow[i] == 0 || e.overflowLogged[i] {
			continue
		}
		e.overflowLogged[i] = true
		e.log.Warn().Str("label", label).Int64("openings", s.LabelOverflow[i]).
			Msg(hints[i] + "; helpdesk_label_overflow_total counts them (logged once)")
	}
}

// Latest returns the most recently published view.
func (e *Engine) Latest() *kpi.View { return e.snap.Load() }

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

// Fresh returns a view that includes every batch applied so far. When
// the loop has stopped, or ctx ends first, it returns the latest one.
func (e *Engine) Fresh(ctx context.Context) *kpi.View {
	var s *kpi.View
	if e.do(ctx, func() { s = e.publish() }) {
		return s
	}
	return e.Latest()
}

// AtRisk lists up to limit SLA clocks of open tickets at risk of a
// breach or in breach that f keeps, at risk first, soonest deadline first,
// as of now (Unix ns, also returned).
func (e *Engine) AtRisk(ctx context.Context, f kpi.AtRiskFilter, limit int) (kpi.AtRiskList, int64, error) {
	var list kpi.AtRiskList
	var now int64
	if !e.do(ctx, func() {
		now = e.now().UnixNano()
		e.state.Advance(now)
		list = e.state.AtRiskTickets(f, limit)
	}) {
		return list, 0, errors.New("the aggregator is stopping or busy; try again")
	}
	return list, now, nil
}

// Ready reports whether the engine has caught up with the stream once.
// It follows the published view, so that a reader who sees it ready
// also sees the view's counters.
func (e *Engine) Ready() bool { return e.snap.Load().CaughtUp }
