// Package ingest reads helpdesk events from a JetStream stream, decodes and
// validates each message once, and hands batches to the aggregator.
//
// The consumer is an ordered consumer that starts at a stream sequence the
// aggregator chooses (the first one on a fresh start, the one after a
// snapshot on a restart). The aggregator owns the position, so nothing is
// acknowledged on the server and nothing is redelivered: a message counts as
// handled once the batch holding it is applied. A poison message is counted
// (as a rejection in the batch), logged with its stream sequence, copied to
// the dead-letter stream (through JetStream, acknowledged) and skipped; it
// never stops the consumer.
//
// It does not fold events into state; that is the kpi package's job, done
// by whoever reads the batches.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// Position is a place in one incarnation of the stream. A stream deleted
// and created again under the same name numbers its messages from 1
// again, so a sequence means something only with the stream's creation
// time.
type Position struct {
	// Seq is a stream sequence.
	Seq uint64
	// StreamCreated is when the stream was created, as its info reports
	// it; zero when unknown (a state from a snapshot that did not record
	// it).
	StreamCreated time.Time
}

// Consumer reads one stream from a start sequence.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	nc      *nats.Conn
	log     zerolog.Logger
	now     func() time.Time
	metrics *metrics
	skew    time.Duration      // how far after its storing an event may lie
	pool    chan *events.Batch // released batches, for reuse
	readAt  int64              // Unix ns: the read loop's clock, read at each batch's first message

	// Rejections and dead-letter failures are each logged at most every
	// logEvery, by the clock wall; only the reading goroutine touches
	// these. wall is not now, which -as-of may stop.
	wall          func() time.Time
	rejectLog     logLimit
	deadLetterLog logLimit
}

// logEvery is how often a rejection, or a dead-letter failure, is logged
// at most.
const logEvery = 10 * time.Second

// logLimit lets one log line through per interval and counts those it
// holds back, so that the next line can say how many there were.
type logLimit struct {
	every time.Duration
	last  time.Time // when the last line went through; zero before the first
	held  int       // lines held back since
}

// allow reports whether a line may be logged at now and, when it may, how
// many were held back since the last one.
func (l *logLimit) allow(now time.Time) (ok bool, suppressed int) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.held++
		return false, 0
	}
	suppressed = l.held
	l.last, l.held = now, 0
	return true, suppressed
}

type metrics struct {
	deadLettered       prometheus.Counter
	deadLetterFailures prometheus.Counter
	regressions        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helpdesk_events_deadlettered_total",
			Help: "Rejected messages copied to the dead-letter subject.",
		}),
		deadLetterFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helpdesk_deadletter_publish_failures_total",
			Help: "Rejected messages that could not be copied to the dead-letter subject.",
		}),
	}
	m.regressions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "helpdesk_stream_regressions_total",
		Help: "Times the stream did not continue where the restored state left off: behind (recreated or purged) or gap (messages removed before they were applied).",
	}, []string{"kind"})
	m.regressions.WithLabelValues("behind")
	m.regressions.WithLabelValues("gap")
	reg.MustRegister(m.deadLettered, m.deadLetterFailures, m.regressions)
	return m
}

// New returns a consumer of the stream named in cfg. An event more than
// maxClockSkew after the time the stream stored it (or after now, if that
// is earlier) is rejected as from the future; the setting is the state's
// (kpi.Config.MaxClockSkew, whose windows take events that far ahead), so
// it lives in one place and the program passes it here.
func New(cfg Config, maxClockSkew time.Duration, nc *nats.Conn, log zerolog.Logger, reg prometheus.Registerer, now func() time.Time) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxClockSkew < 0 {
		return nil, fmt.Errorf("max_clock_skew: %v: must not be negative", maxClockSkew)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if cfg.DeadLetterTimeout <= 0 {
		cfg.DeadLetterTimeout = DefaultConfig().DeadLetterTimeout
	}
	c := &Consumer{
		cfg:  cfg,
		skew: maxClockSkew,
		js:   js,
		nc:   nc,
		log:  log.With().Str("component", "ingest").Logger(),
		now:  now,
		pool: make(chan *events.Batch, 4),

		wall:          time.Now,
		rejectLog:     logLimit{every: logEvery},
		deadLetterLog: logLimit{every: logEvery},
	}
	c.metrics = newMetrics(reg)
	return c, nil
}

// Run delivers the stream from position start (as StartSeq returns it)
// onwards to out, in batches, until ctx is cancelled; then it hands over
// what it has decoded, closes out and returns nil. An error means the
// consumer could not go on.
//
// While it runs it makes sure it reads the stream start was in: when the
// stream turns out to have been deleted and created again (its creation
// time changed), that counts as behind and the new stream is read from its
// first message, as StartSeq does. The check runs before the first
// message of every consumer the ordered consumer creates (it recreates
// itself after the stream is deleted, and would otherwise resume in the
// new stream at the old position) and every RegressionCheck. Messages
// skipped because they were removed before delivery count as a gap.
func (c *Consumer) Run(ctx context.Context, stream jetstream.Stream, start Position, out chan<- *events.Batch) error {
	defer close(out)
	for {
		next, again, err := c.consume(ctx, stream, start, out)
		if err != nil || !again {
			return err
		}
		start = next
	}
}

// watched is what a reading and its watcher share.
type watched struct {
	// created is the creation time of the stream being read.
	created time.Time
	// delivered is the stream sequence of the last message handled.
	delivered atomic.Uint64
	// restartAt is where to read again once the stream was found
	// recreated or behind; set once.
	restartAt atomic.Pointer[Position]
}

// consume reads from start until ctx ends (returning false) or the stream
// is found recreated or behind what was delivered (returning where to
// start again).
//
// When there is nothing to read yet (the stream's last sequence is below
// start), it hands over an empty batch at once, positioned just before
// start with nothing pending: the state counts as caught up without
// waiting for an event that may not come, and a position moved past a gap
// is what the next snapshot records.
func (c *Consumer) consume(ctx context.Context, stream jetstream.Stream, start Position, out chan<- *events.Batch) (Position, bool, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return Position{}, false, fmt.Errorf("stream %s info: %w", c.cfg.Stream, err)
	}
	if start.StreamCreated.IsZero() {
		start.StreamCreated = info.Created
	}
	w := &watched{created: start.StreamCreated}
	w.delivered.Store(max(start.Seq, 1) - 1)
	if c.regressed(info, w, w.delivered.Load()) {
		return *w.restartAt.Load(), true, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   max(start.Seq, 1),
	})
	if err != nil {
		return Position{}, false, fmt.Errorf("create ordered consumer on %s: %w", c.cfg.Stream, err)
	}
	newBatch := func() *events.Batch {
		b := c.batch()
		b.StreamCreated = start.StreamCreated
		return b
	}
	if info.State.LastSeq < start.Seq {
		b := newBatch()
		b.LastSeq = start.Seq - 1
		out <- b
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4 * c.cfg.BatchSize))
	if err != nil {
		return Position{}, false, fmt.Errorf("consume %s: %w", c.cfg.Stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	// The watcher stops the iterator when the stream was recreated or
	// went behind.
	watchCtx, stopWatching := context.WithCancel(ctx)
	watcherDone := make(chan struct{})
	defer func() { stopWatching(); <-watcherDone }()
	go func() {
		defer close(watcherDone)
		c.watch(watchCtx, stream, w, it)
	}()
	again := func() (Position, bool, error) {
		if r := w.restartAt.Load(); r != nil && ctx.Err() == nil {
			return *r, true, nil
		}
		c.log.Info().Msg("stopped consuming")
		return Position{}, false, nil
	}

	c.log.Info().Str("stream", c.cfg.Stream).Uint64("start_seq", start.Seq).Msg("consuming")
	b := newBatch()
	var warned time.Time
	for {
		msg, err := it.Next()
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil:
			c.flush(b, out)
			return again()
		default:
			// The ordered consumer recreates itself after most errors.
			if time.Since(warned) > 10*time.Second {
				warned = time.Now()
				c.log.Warn().Err(err).Msg("consumer interrupted; resuming (repeats are not logged for 10s)")
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		seq, cseq, pending, stored, ok := ackPosition(msg.Reply())
		if !ok {
			return Position{}, false, fmt.Errorf("BUG: JetStream message with reply subject %q", msg.Reply())
		}
		if cseq == 1 && !c.sameStream(ctx, stream, w) {
			// The first message of a consumer, which the ordered
			// consumer created anew at the old position, came from a
			// new stream: read that from its start instead.
			c.flush(b, out)
			return again()
		}
		if last := w.delivered.Load(); seq > last+1 {
			c.gap(last+1, seq-1)
		}
		w.delivered.Store(seq)
		b.LastSeq, b.Pending = seq, pending
		c.decode(b, msg, seq, stored)
		// Hand the batch over when it is full, or when this message was
		// the newest in the stream: nothing else is on its way.
		if pending == 0 || len(b.Events)+len(b.Rejected) >= c.cfg.BatchSize {
			c.flush(b, out)
			b = newBatch()
		}
	}
}

// sameStream asks for the stream's info until it gets it or ctx ends, and
// reports whether the stream is still the one w reads and not behind it.
// When it is not, regressed has recorded where to read again.
func (c *Consumer) sameStream(ctx context.Context, stream jetstream.Stream, w *watched) bool {
	d := w.delivered.Load() // only the reading loop, which called this, stores it
	var warned time.Time
	for {
		info, err := stream.Info(ctx)
		if err == nil {
			return !c.regressed(info, w, d)
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Since(warned) > 10*time.Second {
			warned = time.Now()
			c.log.Warn().Err(err).Msg("cannot check that the stream is the one being read; asking again (repeats are not logged for 10s)")
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// regressed reports whether info shows the stream w reads recreated (its
// creation time changed) or behind delivered, a sequence delivered before
// info was fetched; the first time, it counts and logs it and records
// where to read again.
func (c *Consumer) regressed(info *jetstream.StreamInfo, w *watched, d uint64) bool {
	recreated := !info.Created.Equal(w.created)
	if !recreated && info.State.LastSeq >= d {
		return false
	}
	at := &Position{Seq: max(info.State.FirstSeq, 1), StreamCreated: info.Created}
	var lost uint64
	if recreated {
		at.Seq, lost = fromStart(info)
	}
	if !w.restartAt.CompareAndSwap(nil, at) {
		return true
	}
	c.metrics.regressions.WithLabelValues("behind").Inc()
	if recreated {
		c.log.Error().Str("was_created", stamp(w.created)).Str("stream_created", stamp(info.Created)).Uint64("delivered_seq", d).
			Uint64("stream_last_seq", info.State.LastSeq).
			Msg("the stream was deleted and created again: keeping the state (its events did happen) and reading the new stream from its first message")
		if lost != 0 {
			c.gap(lost, at.Seq-1)
		}
	} else {
		c.log.Error().Uint64("delivered_seq", d).Uint64("stream_last_seq", info.State.LastSeq).
			Msg("the stream went behind what was applied: keeping the state and reading the stream again from its first message")
	}
	return true
}

// watch checks the stream every RegressionCheck until ctx ends; when it
// was recreated or went behind, it stops the iterator. A stream that is
// gone is logged once; reading waits for it to be created again.
func (c *Consumer) watch(ctx context.Context, stream jetstream.Stream, w *watched, it jetstream.MessagesContext) {
	t := time.NewTicker(c.cfg.RegressionCheck)
	defer t.Stop()
	gone := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Loaded before the info is fetched: a message stored and
		// delivered in between must not look like the stream going back.
		d := w.delivered.Load()
		info, err := stream.Info(ctx)
		if errors.Is(err, jetstream.ErrStreamNotFound) && !gone {
			gone = true
			c.log.Error().Str("stream", c.cfg.Stream).Uint64("delivered_seq", d).
				Msg("the stream does not exist any more (deleted?): the state is kept; reading resumes from the first message of the stream once it is created again (the next start creates it when stream creation is on)")
		}
		if err != nil {
			continue // the stream may be being recreated; look again
		}
		if gone {
			gone = false
			c.log.Info().Str("stream", c.cfg.Stream).Msg("the stream exists again")
		}
		if c.regressed(info, w, d) {
			it.Stop()
			return
		}
	}
}
