// Package ingest reads helpdesk events from a JetStream stream, decodes and
// validates each message once, and hands batches to the aggregator.
//
// The consumer is an ordered consumer that starts at a stream sequence the
// aggregator chooses (the first one on a fresh start, the one after a
// snapshot on a restart). The aggregator owns the position, so nothing is
// acknowledged on the server and nothing is redelivered: a message counts as
// handled once the batch holding it is applied. A poison message is counted
// (as a rejection in the batch), logged with its stream sequence, copied to
// the dead-letter subject and skipped; it never stops the consumer.
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

// Config says which stream to read and how.
type Config struct {
	// Stream is the stream name, HELPDESK_EVENTS by default.
	Stream string
	// Subjects are the stream's subjects when the consumer creates it.
	Subjects []string
	// CreateStream creates the stream (and the dead-letter stream) when
	// missing.
	CreateStream bool
	// MaxAge is how long the created stream keeps messages; zero keeps
	// them until limits say otherwise.
	MaxAge time.Duration
	// DeadLetterSubject receives a copy of every rejected message.
	DeadLetterSubject string
	// DeadLetterStream, when CreateStream is set, is created to keep the
	// dead letters.
	DeadLetterStream string
	// BatchSize is the most messages handed over at once.
	BatchSize int
	// MaxClockSkew is how far in the future an event may lie.
	MaxClockSkew time.Duration
	// RegressionCheck is how often the stream is checked for having gone
	// behind what was applied.
	RegressionCheck time.Duration
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Stream:            "HELPDESK_EVENTS",
		Subjects:          []string{"helpdesk.events.>"},
		CreateStream:      true,
		DeadLetterSubject: "helpdesk.deadletter",
		DeadLetterStream:  "HELPDESK_DEADLETTER",
		BatchSize:         512,
		MaxClockSkew:      5 * time.Minute,
		RegressionCheck:   10 * time.Second,
	}
}

// Batch is a run of consecutive stream messages, decoded. The reader owns
// it until it calls Release; the event byte slices alias message data.
type Batch struct {
	// Events are the valid events, in stream order.
	Events []events.Event
	// Stored holds, for each of Events, when the stream stored its
	// message (Unix ns): the state's clock follows it (kpi.State.Arrive).
	Stored []int64
	// Rejected holds the reason of every rejected message.
	Rejected []events.Reason
	// LastSeq is the stream sequence of the last message in the batch.
	LastSeq uint64
	// Pending is the number of stream messages after LastSeq.
	Pending uint64

	pool chan *Batch
	now  int64 // Unix ns, read when the batch's first message arrived
}

// Release gives the batch back to the consumer for reuse.
func (b *Batch) Release() {
	select {
	case b.pool <- b:
	default:
	}
}

// Consumer reads one stream from a start sequence.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	nc      *nats.Conn
	log     zerolog.Logger
	now     func() time.Time
	metrics *metrics
	pool    chan *Batch
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
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c := &Consumer{
		cfg:  cfg,
		js:   js,
		nc:   nc,
		log:  log.With().Str("component", "ingest").Logger(),
		now:  now,
		pool: make(chan *Batch, 4),
	}
	c.metrics = newMetrics(reg)
	return c, nil
}

// EnsureStream finds the stream, creating it (and the dead-letter stream)
// when it is missing and CreateStream is set.
func (c *Consumer) EnsureStream(ctx context.Context) (jetstream.Stream, error) {
	s, err := c.js.Stream(ctx, c.cfg.Stream)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %s: %w", c.cfg.Stream, err)
	}
	if !c.cfg.CreateStream {
		return nil, fmt.Errorf("stream %s does not exist and stream creation is off: create it or turn creation on", c.cfg.Stream)
	}
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
	if c.cfg.DeadLetterStream != "" {
		_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       c.cfg.DeadLetterStream,
			Subjects:   []string{c.cfg.DeadLetterSubject},
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     c.cfg.MaxAge,
			Storage:    jetstream.FileStorage,
			Duplicates: 2 * time.Minute,
		})
		if err != nil {
			return nil, fmt.Errorf("create dead-letter stream %s: %w", c.cfg.DeadLetterStream, err)
		}
	}
	return s, nil
}

// StartSeq returns the stream sequence to resume from after a state that
// includes every message up to applied (0 for a fresh state). A stream
// that no longer continues from there is counted, logged and handled so:
//
//   - behind (its last sequence is below applied: recreated or purged):
//     the state is kept, since its events did happen, and the stream is
//     read from its first message; events published again with the same
//     ids are not counted twice.
//   - gap (its first sequence is past applied+1: messages were removed
//     before they were applied): they are lost to the KPIs; reading goes on
//     from the first message still there.
func (c *Consumer) StartSeq(ctx context.Context, stream jetstream.Stream, applied uint64) (uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", c.cfg.Stream, err)
	}
	st := info.State
	first := max(st.FirstSeq, 1)
	switch {
	case applied == 0:
		return first, nil
	case st.LastSeq < applied:
		c.metrics.regressions.WithLabelValues("behind").Inc()
		c.log.Error().Uint64("snapshot_seq", applied).Uint64("stream_last_seq", st.LastSeq).
			Msg("the stream is behind the restored state (recreated or purged?): keeping the state and reading the stream from its first message")
		return first, nil
	case st.Msgs > 0 && st.FirstSeq > applied+1:
		c.metrics.regressions.WithLabelValues("gap").Inc()
		c.log.Error().Uint64("snapshot_seq", applied).Uint64("stream_first_seq", st.FirstSeq).
			Msgf("stream messages %d to %d were removed before they were applied and are missing from the KPIs; keep the stream longer (max_age) than snapshots may lag", applied+1, st.FirstSeq-1)
		return st.FirstSeq, nil
	}
	return applied + 1, nil
}

// Run delivers the stream from sequence start onwards to out, in batches,
// until ctx is cancelled; then it hands over what it has decoded, closes
// out and returns nil. An error means the consumer could not go on.
//
// While it runs it watches the stream: messages skipped because they were
// removed before delivery count as a gap, and a stream whose last
// sequence falls below what was delivered (deleted and recreated) counts
// as behind, and is read again from its first message, as StartSeq does.
func (c *Consumer) Run(ctx context.Context, stream jetstream.Stream, start uint64, out chan<- *Batch) error {
	defer close(out)
	announce := true
	for {
		next, err := c.consume(ctx, stream, start, announce, out)
		if err != nil || next == 0 {
			return err
		}
		start, announce = next, false
	}
}

// consume reads from start until ctx ends (returning 0) or the stream is
// found behind what was delivered (returning where to start again).
// announce hands over an empty batch at once when there is nothing to
// catch up on, so the state counts as caught up.
func (c *Consumer) consume(ctx context.Context, stream jetstream.Stream, start uint64, announce bool, out chan<- *Batch) (uint64, error) {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   max(start, 1),
	})
	if err != nil {
		return 0, fmt.Errorf("create ordered consumer on %s: %w", c.cfg.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", c.cfg.Stream, err)
	}
	if announce && info.State.LastSeq < start {
		out <- c.batch()
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4 * c.cfg.BatchSize))
	if err != nil {
		return 0, fmt.Errorf("consume %s: %w", c.cfg.Stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	// The watcher stops the iterator when the stream went behind.
	var delivered, restartAt atomic.Uint64
	delivered.Store(start - 1)
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	defer func() { stopWatching(); <-watched }()
	go func() {
		defer close(watched)
		c.watch(watchCtx, stream, &delivered, &restartAt, it)
	}()

	c.log.Info().Str("stream", c.cfg.Stream).Uint64("start_seq", start).Msg("consuming")
	b := c.batch()
	var warned time.Time
	for {
		msg, err := it.Next()
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil:
			c.flush(b, out)
			if r := restartAt.Load(); r != 0 && ctx.Err() == nil {
				return r, nil
			}
			c.log.Info().Msg("stopped consuming")
			return 0, nil
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
		seq, pending, stored, ok := ackPosition(msg.Reply())
		if !ok {
			return 0, fmt.Errorf("BUG: JetStream message with reply subject %q", msg.Reply())
		}
		if last := delivered.Load(); seq > last+1 {
			c.metrics.regressions.WithLabelValues("gap").Inc()
			c.log.Error().Uint64("from_seq", last+1).Uint64("to_seq", seq-1).
				Msg("stream messages were removed before they were applied and are missing from the KPIs")
		}
		delivered.Store(seq)
		b.LastSeq, b.Pending = seq, pending
		c.decode(b, msg, seq, stored)
		// Hand the batch over when it is full, or when this message was
		// the newest in the stream: nothing else is on its way.
		if pending == 0 || len(b.Events)+len(b.Rejected) >= c.cfg.BatchSize {
			c.flush(b, out)
			b = c.batch()
		}
	}
}

// watch checks the stream every RegressionCheck until ctx ends; when its
// last sequence is below the delivered one, it records where to start
// again and stops the iterator.
func (c *Consumer) watch(ctx context.Context, stream jetstream.Stream, delivered, restartAt *atomic.Uint64, it jetstream.MessagesContext) {
	t := time.NewTicker(c.cfg.RegressionCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		info, err := stream.Info(ctx)
		if err != nil {
			continue // the stream may be being recreated; look again
		}
		if d := delivered.Load(); info.State.LastSeq < d {
			c.metrics.regressions.WithLabelValues("behind").Inc()
			c.log.Error().Uint64("delivered_seq", d).Uint64("stream_last_seq", info.State.LastSeq).
				Msg("the stream went behind what was applied (recreated or purged?): keeping the state and reading the stream again from its first message")
			restartAt.Store(max(info.State.FirstSeq, 1))
			it.Stop()
			return
		}
	}
}

// ackPosition reads the stream sequence, the number of messages pending
// after this one and when the stream stored it (Unix ns) from a JetStream
// message's reply subject, without allocating:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
func ackPosition(reply string) (seq, pending uint64, stored int64, ok bool) {
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
		return 0, 0, 0, false
	}
	base := 0 // v1 subjects
	switch {
	case n == 9:
	case n >= 11:
		base = 2 // domain and account hash come first
	default:
		return 0, 0, 0, false
	}
	seq, ok1 := parseUint(tokens[base+5])
	tm, ok2 := parseUint(tokens[base+7])
	pending, ok3 := parseUint(tokens[base+8])
	return seq, pending, int64(tm), ok1 && ok2 && ok3
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

// batch returns an empty batch, reusing a released one when there is one.
func (c *Consumer) batch() *Batch {
	select {
	case b := <-c.pool:
		b.Events, b.Stored, b.Rejected, b.LastSeq, b.Pending = b.Events[:0], b.Stored[:0], b.Rejected[:0], 0, 0
		return b
	default:
		return &Batch{Events: make([]events.Event, 0, c.cfg.BatchSize), Stored: make([]int64, 0, c.cfg.BatchSize), pool: c.pool}
	}
}

// decode adds msg, stream sequence seq stored at stored (Unix ns), to b: as
// an event, or as a rejection after dead-lettering.
//
// An event is from the future when it lies more than MaxClockSkew past the
// time the stream stored it (or past now, if that is earlier, as with
// -as-of): so a replay after a restart judges every message as the first
// reading did.
func (c *Consumer) decode(b *Batch, msg jetstream.Msg, seq uint64, stored int64) {
	if len(b.Events)+len(b.Rejected) == 0 {
		// The clock is read once per batch, when its first message
		// arrives, not per message.
		b.now = c.now().UnixNano()
	}
	// Decode into the next slot, reusing its scratch buffer from an
	// earlier round; keep the slot only if the event is valid.
	b.Events = b.Events[:len(b.Events)+1]
	ev := &b.Events[len(b.Events)-1]
	err := events.Decode(msg.Data(), ev)
	if err == nil && ev.OccurredAt > min(b.now, stored)+int64(c.cfg.MaxClockSkew) {
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

// deadLetter copies a rejected message to the dead-letter subject and logs
// it. The copy carries the reason and the original subject and sequence in
// headers; its message id makes republishing after a restart harmless.
func (c *Consumer) deadLetter(msg jetstream.Msg, seq uint64, de *events.Error) {
	c.log.Warn().Uint64("stream_seq", seq).Str("subject", msg.Subject()).Str("reason", string(de.Reason)).
		Str("error", de.Error()).Msg("rejected message; copied to dead-letter subject")
	dl := nats.NewMsg(c.cfg.DeadLetterSubject)
	dl.Data = msg.Data()
	dl.Header.Set(jetstream.MsgIDHeader, c.cfg.Stream+"-"+strconv.FormatUint(seq, 10))
	dl.Header.Set("Helpdesk-Reject-Reason", string(de.Reason))
	dl.Header.Set("Helpdesk-Reject-Error", de.Error())
	dl.Header.Set("Helpdesk-Stream-Sequence", strconv.FormatUint(seq, 10))
	dl.Header.Set("Helpdesk-Subject", msg.Subject())
	if err := c.nc.PublishMsg(dl); err != nil {
		c.metrics.deadLetterFailures.Inc()
		c.log.Error().Err(err).Uint64("stream_seq", seq).Msg("dead-letter publish failed; the rejection is still counted")
		return
	}
	c.metrics.deadLettered.Inc()
}

// flush hands b over when it holds anything.
func (c *Consumer) flush(b *Batch, out chan<- *Batch) {
	if len(b.Events)+len(b.Rejected) > 0 {
		out <- b
	}
}
