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
	"strconv"
	"strings"
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

// New returns a consumer of the stream named in cfg. now is the clock used
// to reject events from the future.
func New(cfg Config, nc *nats.Conn, log zerolog.Logger, reg prometheus.Registerer, now func() time.Time) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
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

// EnsureStream finds the stream, creating it when it is missing and
// CreateStream is set; with CreateStream set it also creates the
// dead-letter stream when that is missing.
func (c *Consumer) EnsureStream(ctx context.Context) (jetstream.Stream, error) {
	s, err := c.js.Stream(ctx, c.cfg.Stream)
	switch {
	case err == nil:
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("look up stream %s: %w", c.cfg.Stream, err)
	case !c.cfg.CreateStream:
		return nil, fmt.Errorf("stream %s does not exist and stream creation is off: create it or turn creation on", c.cfg.Stream)
	default:
		s, err = c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:       c.cfg.Stream,
			Subjects:   c.cfg.Subjects,
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     c.cfg.MaxAge,
			Storage:    jetstream.FileStorage,
			Duplicates: 2 * time.Minute,
			// No MaxMsgSize: an oversized event still arrives (up to the
			// server's max_payload) and is rejected visibly, dead-lettered.
		})
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", c.cfg.Stream, err)
		}
		c.log.Info().Str("stream", c.cfg.Stream).Strs("subjects", c.cfg.Subjects).Msg("created stream")
	}
	if c.cfg.CreateStream && c.cfg.DeadLetterStream != "" {
		if err := c.ensureDeadLetterStream(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ensureDeadLetterStream creates the dead-letter stream unless it exists;
// an existing one is left as its operator configured it.
func (c *Consumer) ensureDeadLetterStream(ctx context.Context) error {
	_, err := c.js.Stream(ctx, c.cfg.DeadLetterStream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up dead-letter stream %s: %w", c.cfg.DeadLetterStream, err)
	}
	_, err = c.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       c.cfg.DeadLetterStream,
		Subjects:   []string{c.cfg.DeadLetterSubject},
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     c.cfg.MaxAge,
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil // created meanwhile
	}
	if err != nil {
		return fmt.Errorf("create dead-letter stream %s for %s: %w (create it, or allow the aggregator to)", c.cfg.DeadLetterStream, c.cfg.DeadLetterSubject, err)
	}
	c.log.Info().Str("stream", c.cfg.DeadLetterStream).Str("subject", c.cfg.DeadLetterSubject).Msg("created dead-letter stream")
	return nil
}

// StartSeq returns where to resume reading after a state that includes
// every message up to applied (applied.Seq 0 for a fresh state): the
// sequence of the first message to read, in the stream as it is now. A
// stream that no longer continues from there is counted, logged and
// handled so:
//
//   - behind (it was recreated since: its creation time is not applied's;
//     or, with that unknown, its last sequence is below applied): the
//     state is kept, since its events did happen, and the stream is read
//     from its first message; events published again with the same ids
//     are not counted twice.
//   - gap (its first sequence is past applied+1: messages were removed
//     before they were applied, whether or not any is left): they are lost
//     to the KPIs; reading goes on from the first message still there, or
//     the next one published.
func (c *Consumer) StartSeq(ctx context.Context, stream jetstream.Stream, applied Position) (Position, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return Position{}, fmt.Errorf("stream %s info: %w", c.cfg.Stream, err)
	}
	st := info.State
	start := Position{Seq: applied.Seq + 1, StreamCreated: info.Created}
	first := max(st.FirstSeq, 1)
	switch {
	case applied.Seq == 0:
		start.Seq = first
	case !applied.StreamCreated.IsZero() && !applied.StreamCreated.Equal(info.Created):
		c.metrics.regressions.WithLabelValues("behind").Inc()
		c.log.Error().Uint64("snapshot_seq", applied.Seq).Str("snapshot_stream_created", stamp(applied.StreamCreated)).
			Str("stream_created", stamp(info.Created)).Uint64("stream_last_seq", st.LastSeq).
			Msg("the stream was recreated since the restored state was taken: keeping the state (its events did happen) and reading the new stream from its first message")
		var lost uint64
		if start.Seq, lost = fromStart(info); lost != 0 {
			c.gap(lost, start.Seq-1)
		}
	case st.LastSeq < applied.Seq:
		c.metrics.regressions.WithLabelValues("behind").Inc()
		c.log.Error().Uint64("snapshot_seq", applied.Seq).Uint64("stream_last_seq", st.LastSeq).
			Msg("the stream is behind the restored state (recreated?): keeping the state and reading the stream from its first message")
		start.Seq = first
	case st.FirstSeq > applied.Seq+1:
		// With every message removed, FirstSeq is LastSeq+1: the next
		// one to be published.
		c.gap(applied.Seq+1, st.FirstSeq-1)
		start.Seq = st.FirstSeq
	}
	return start, nil
}

// fromStart returns the first sequence to read in a new stream, none of
// whose messages were applied yet, and the first of those removed from
// its start already (0 when none was).
func fromStart(info *jetstream.StreamInfo) (seq, lost uint64) {
	first := max(info.Config.FirstSeq, 1) // a stream may be created to start past 1
	if info.State.FirstSeq > first {
		return info.State.FirstSeq, first
	}
	return first, 0
}

// stamp formats a stream's creation time for logs, to the nanosecond: two
// streams created within a second must not look alike.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// gap counts and logs stream messages from to to that were removed
// before they were applied.
func (c *Consumer) gap(from, to uint64) {
	c.metrics.regressions.WithLabelValues("gap").Inc()
	c.log.Error().Uint64("from_seq", from).Uint64("to_seq", to).
		Msg("stream messages were removed before they were applied and are missing from the KPIs; keep the stream longer (max_age) than snapshots may lag")
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

// ackPosition reads the stream sequence, the consumer sequence (1 for the
// first message a consumer delivers), the number of messages pending after
// this one and when the stream stored it (Unix ns) from a JetStream
// message's reply subject, without allocating:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
func ackPosition(reply string) (seq, cseq, pending uint64, stored int64, ok bool) {
	var tokens [12]string
	n := 0
	for n < len(tokens) {
		tok, rest, more := strings.Cut(reply, ".")
		tokens[n] = tok
		n++
		if !more {
			break
		}
		reply = rest
	}
	if tokens[0] != "$JS" || tokens[1] != "ACK" {
		return 0, 0, 0, 0, false
	}
	base := 0 // v1 subjects
	switch {
	case n == 9:
	case n >= 11:
		base = 2 // domain and account hash come first
	default:
		return 0, 0, 0, 0, false
	}
	seq, ok1 := parseUint(tokens[base+5])
	cseq, ok2 := parseUint(tokens[base+6])
	tm, ok3 := parseUint(tokens[base+7])
	pending, ok4 := parseUint(tokens[base+8])
	return seq, cseq, pending, int64(tm), ok1 && ok2 && ok3 && ok4
}

func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}

// recycle takes a released batch back, unless enough are waiting.
func (c *Consumer) recycle(b *events.Batch) {
	select {
	case c.pool <- b:
	default:
	}
}

// batch returns an empty batch, reusing a released one when there is one.
func (c *Consumer) batch() *events.Batch {
	select {
	case b := <-c.pool:
		b.Events, b.Stored, b.Rejected, b.LastSeq, b.StreamCreated, b.Pending = b.Events[:0], b.Stored[:0], b.Rejected[:0], 0, time.Time{}, 0
		return b
	default:
		return &events.Batch{Events: make([]events.Event, 0, c.cfg.BatchSize), Stored: make([]int64, 0, c.cfg.BatchSize), Recycle: c.recycle}
	}
}

// decode adds msg, stream sequence seq stored at stored (Unix ns), to b: as
// an event, or as a rejection after dead-lettering.
//
// An event is from the future when it lies more than MaxClockSkew past the
// time the stream stored it (or past now, if that is earlier, as with
// -as-of): so a replay after a restart judges every message as the first
// reading did.
func (c *Consumer) decode(b *events.Batch, msg jetstream.Msg, seq uint64, stored int64) {
	if len(b.Events)+len(b.Rejected) == 0 {
		// The clock is read once per batch, when its first message
		// arrives, not per message.
		c.readAt = c.now().UnixNano()
	}
	// Decode into the next slot, reusing its scratch buffer from an
	// earlier round; keep the slot only if the event is valid.
	b.Events = b.Events[:len(b.Events)+1]
	ev := &b.Events[len(b.Events)-1]
	err := events.Decode(msg.Data(), ev)
	if err == nil && ev.OccurredAt > min(c.readAt, stored)+int64(c.cfg.MaxClockSkew) {
		err = &events.Error{Reason: events.ReasonFuture, Field: "occurred_at",
			Detail: "more than " + c.cfg.MaxClockSkew.String() + " after the time the stream stored it"}
	}
	if err == nil {
		b.Stored = append(b.Stored, stored)
		return
	}
	b.Events = b.Events[:len(b.Events)-1]
	var de *events.Error
	if !errors.As(err, &de) {
		panic("BUG: events.Decode returned " + err.Error())
	}
	b.Rejected = append(b.Rejected, de.Reason)
	c.deadLetter(msg, seq, de)
}

// deadLetter copies a rejected message to the dead-letter subject through
// JetStream and logs it, at most once every 10s: the line after a quiet
// spell says how many were not logged ("suppressed"), and
// helpdesk_events_rejected_total counts every one by reason. The copy carries the reason and the original
// subject and sequence in headers; its message id makes republishing after
// a restart harmless. It counts as dead-lettered only once JetStream
// acknowledges it, within DeadLetterTimeout; when no stream takes the
// subject and CreateStream is set, the dead-letter stream is created and
// the copy sent once more. A copy that is not stored counts as a failure
// (logged at most every 10s); the rejection itself is counted either way.
//
// The wait does not end with the reading's context: a copy cut short at
// shutdown would be lost, since the position moves past its message.
func (c *Consumer) deadLetter(msg jetstream.Msg, seq uint64, de *events.Error) {
	if ok, suppressed := c.rejectLog.allow(c.wall()); ok {
		ev := c.log.Warn().Uint64("stream_seq", seq).Str("subject", msg.Subject()).Str("reason", string(de.Reason)).
			Str("error", de.Error())
		if suppressed > 0 {
			ev = ev.Int("suppressed", suppressed)
		}
		ev.Msgf("rejected message; copying it to the dead-letter subject (rejections are logged at most every %v; helpdesk_events_rejected_total counts each by reason)", logEvery)
	}
	dl := nats.NewMsg(c.cfg.DeadLetterSubject)
	dl.Data = msg.Data()
	dl.Header.Set(jetstream.MsgIDHeader, c.cfg.Stream+"-"+strconv.FormatUint(seq, 10))
	dl.Header.Set("Helpdesk-Reject-Reason", string(de.Reason))
	dl.Header.Set("Helpdesk-Reject-Error", de.Error())
	dl.Header.Set("Helpdesk-Stream-Sequence", strconv.FormatUint(seq, 10))
	dl.Header.Set("Helpdesk-Subject", msg.Subject())

	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DeadLetterTimeout)
	defer cancel()
	_, err := c.js.PublishMsg(ctx, dl)
	noStream := errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
	if noStream && c.cfg.CreateStream && c.cfg.DeadLetterStream != "" {
		if cerr := c.ensureDeadLetterStream(ctx); cerr != nil {
			err = fmt.Errorf("%w, and %w", err, cerr)
		} else {
			_, err = c.js.PublishMsg(ctx, dl)
			noStream = errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
		}
	}
	if err == nil {
		c.metrics.deadLettered.Inc()
		return
	}
	c.metrics.deadLetterFailures.Inc()
	ok, notLogged := c.deadLetterLog.allow(c.wall())
	if !ok {
		return
	}
	ev := c.log.Error().Err(err).Uint64("stream_seq", seq).Str("dead_letter_subject", c.cfg.DeadLetterSubject).
		Int("failures_not_logged", notLogged)
	if noStream {
		ev.Msgf("dead-letter copy not stored: no stream takes %s; create a stream for %s (or turn stream creation on); the rejection is still counted; further failures are logged at most every %v",
			c.cfg.DeadLetterSubject, c.cfg.DeadLetterSubject, logEvery)
		return
	}
	ev.Msgf("dead-letter copy not acknowledged by JetStream within %v: check the stream that takes %s (its limits, its storage) and the connection; the rejection is still counted; further failures are logged at most every %v",
		c.cfg.DeadLetterTimeout, c.cfg.DeadLetterSubject, logEvery)
}

// flush hands b over when it holds anything.
func (c *Consumer) flush(b *events.Batch, out chan<- *events.Batch) {
	if len(b.Events)+len(b.Rejected) > 0 {
		out <- b
	}
}
