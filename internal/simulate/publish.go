package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// maxInFlight bounds the asynchronous publishes awaiting their ack. It
	// is below the JetStream client's default PublishAsyncMaxPending (4000);
	// a JetStream context created with a smaller
	// jetstream.WithPublishAsyncMaxPending bounds them further.
	maxInFlight = 2048

	// ackWait is how long Publish waits for the ack of one publish before
	// it gives up. (For asynchronous publishes the client itself waits
	// forever unless its JetStream context was created with
	// jetstream.WithPublishAsyncTimeout.)
	ackWait = 30 * time.Second

	// progressEvery is the interval of progress lines.
	progressEvery = 5 * time.Second

	// unpacedBatch is how many messages an unpaced Publish sends between
	// looks at its context and its progress ticker.
	unpacedBatch = 256
)

// Headers of every message that Publish, Preload and NATSMsg write, beside
// Nats-Msg-Id, so that a simulator started again can find where the
// stream stands (see LastStored) and go on from there.
const (
	// RunHeader holds the Config.Run of the stream.
	RunHeader = "Helpdesk-Sim-Run"
	// StartHeader holds the Config.Start of the stream, in UTC with
	// millisecond precision (the Generator uses no finer part).
	StartHeader = "Helpdesk-Sim-Start"
	// PositionHeader holds the Message.Position, in decimal.
	PositionHeader = "Helpdesk-Sim-Position"
)

const (
	startLayout = "2006-01-02T15:04:05.000Z07:00"

	// lookBack is how many messages LastStored reads back from the end of
	// the stream for one of the simulator's.
	lookBack = 1000
)

// NATSMsg returns m as a NATS message of gen's stream: its subject and
// data, the Nats-Msg-Id header set to its id, and the Helpdesk-Sim-…
// headers.
func (g *Generator) NATSMsg(m Message) *nats.Msg {
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	msg.Header[jetstream.MsgIDHeader] = []string{m.MsgID}
	msg.Header[RunHeader] = []string{g.run}
	msg.Header[StartHeader] = []string{g.startHdr}
	msg.Header[PositionHeader] = []string{strconv.FormatUint(m.Position, 10)}
	return msg
}

// Stored is where a stream stands with a simulated helpdesk: its latest
// message from a simulator.
type Stored struct {
	Run        string    // the Config.Run of the stream
	Start      time.Time // its Config.Start
	Position   uint64    // the message's Position: resume with Generator.Skip(Position)
	OccurredAt time.Time // its event time, the occurred_at of its data
	Sequence   uint64    // its sequence in the JetStream stream
}

// LastStored returns the latest message in stream that a simulator
// published (one with the Helpdesk-Sim-… headers), looking back at most
// 1000 messages from the end, so that a few events of other publishers
// after it do not hide it. found is false when the stream is empty or
// none of those messages is a simulator's.
//
// Messages are stored in the order of their publishing, so every position
// up to Position is stored (or was a repeat that JetStream dropped), and
// none after it: a Generator of the same Config, Start included, that
// Skips to Position goes on without a gap and without storing anything
// twice.
func LastStored(ctx context.Context, stream jetstream.Stream) (last Stored, found bool, err error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return Stored{}, false, fmt.Errorf("simulate: read the stream's state: %w", err)
	}
	for seq := info.State.LastSeq; seq >= max(info.State.FirstSeq, 1) && info.State.LastSeq-seq < lookBack; seq-- {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			return Stored{}, false, fmt.Errorf("simulate: read message %d of the stream: %w", seq, err)
		}
		run := m.Header.Get(RunHeader)
		if run == "" {
			continue
		}
		last = Stored{Run: run, Sequence: seq}
		if last.Start, err = time.Parse(startLayout, m.Header.Get(StartHeader)); err != nil {
			return Stored{}, false, fmt.Errorf("simulate: message %d of the stream: header %s: %w", seq, StartHeader, err)
		}
		if last.Position, err = strconv.ParseUint(m.Header.Get(PositionHeader), 10, 64); err != nil {
			return Stored{}, false, fmt.Errorf("simulate: message %d of the stream: header %s: %w", seq, PositionHeader, err)
		}
		var ev struct {
			OccurredAt time.Time `json:"occurred_at"`
		}
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return Stored{}, false, fmt.Errorf("simulate: message %d of the stream: %w", seq, err)
		}
		last.OccurredAt = ev.OccurredAt.UTC()
		return last, true, nil
	}
	return Stored{}, false, nil
}

// PublishConfig says how fast and how much Publish sends.
type PublishConfig struct {
	// Rate is the number of messages per second of wall time; 0 means as
	// fast as possible. Pacing is a token bucket refilled by a ticker, so
	// messages leave in small bursts of at most a few ticks' worth, and a
	// publisher that falls behind does not catch up later.
	Rate float64
	// Count is the number of messages to send; 0 means until ctx is done.
	Count int
	// Progress, when not nil, receives a line every 5 seconds with the
	// messages published so far, the rate and the elapsed time, and a last
	// line when Publish returns. Write errors are ignored.
	Progress io.Writer
	// Async publishes with PublishMsgAsync, keeping up to 2048 publishes in
	// flight, instead of waiting for each ack. It is many times faster.
	Async bool
}

// Publish sends messages of gen to JetStream, each to its subject with the
// Nats-Msg-Id header set to its id, until cfg.Count messages are sent or ctx
// is done. It returns the number of messages the server acknowledged,
// including those it recognised as duplicates of earlier ids and did not
// store again.
//
// Cancelling ctx is the normal way to end an unbounded run, so it is not an
// error: Publish stops sending, waits (up to 30s each) for the acks of the
// publishes in flight and returns nil. Compare the count with cfg.Count to
// tell an early stop. The first failed publish (after the client's own
// retries) ends Publish with an error that names the message id; the
// publishes in flight are still waited for and counted. Every message taken
// from gen is thus either counted or reported, so after a nil error the
// stream holds exactly the distinct ids of the first published messages.
//
// Asynchronous publishes are bounded by Publish itself (and by the client's
// jetstream.WithPublishAsyncMaxPending when that is lower) and awaited
// through their futures, not with js.PublishAsyncComplete: the futures say
// which publish failed, and other users of js do not hold Publish up.
//
// Publish takes the messages from gen and is not safe for concurrent use
// with other users of gen. It starts no goroutines of its own.
func Publish(ctx context.Context, js jetstream.JetStream, gen *Generator, cfg PublishConfig) (published int, err error) {
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0 {
		return 0, fmt.Errorf("simulate: PublishConfig.Rate is %v, want a finite number >= 0 (0 for unpaced)", cfg.Rate)
	}
	if cfg.Count < 0 {
		return 0, fmt.Errorf("simulate: PublishConfig.Count is %d, want >= 0 (0 for until ctx is done)", cfg.Count)
	}
	published, err = publish(ctx, js, gen, cfg)
	if err != nil {
		return published, fmt.Errorf("simulate: %w", err)
	}
	return published, nil
}

// Preload publishes n messages of gen as fast as possible, asynchronously,
// and returns once the server has acknowledged all of them. Unlike
// Publish, it returns an error when ctx ends it early, as the preload is
// then incomplete. progress is as PublishConfig.Progress.
func Preload(ctx context.Context, js jetstream.JetStream, gen *Generator, n int, progress io.Writer) error {
	if n < 0 {
		return fmt.Errorf("simulate: preload of %d messages, want n >= 0", n)
	}
	if n == 0 {
		return nil
	}
	published, err := publish(ctx, js, gen, PublishConfig{Count: n, Progress: progress, Async: true})
	if err == nil && published < n {
		err = context.Cause(ctx)
	}
	if err != nil {
		return fmt.Errorf("simulate: preload stopped after %d of %d messages: %w", published, n, err)
	}
	return nil
}

// publish is Publish after validation.
func publish(ctx context.Context, js jetstream.JetStream, gen *Generator, cfg PublishConfig) (int, error) {
	p := &publisher{js: js, gen: gen, async: cfg.Async, count: cfg.Count}
	prog := newProgress(cfg.Progress)
	defer prog.stop()

	var err error
	if cfg.Rate > 0 {
		err = p.runPaced(ctx, cfg.Rate, prog)
	} else {
		err = p.runUnpaced(ctx, prog)
	}
	if derr := p.drain(); err == nil {
		err = derr
	}
	prog.final(p.acked)
	return p.acked, err
}

// publisher sends messages and keeps the futures of asynchronous publishes
// in a FIFO ring, so that it can bound them, count their acks and report
// their errors.
type publisher struct {
	js    jetstream.JetStream
	gen   *Generator
	async bool
	count int // messages to send, 0 for no limit

	sent  int // messages handed to the client
	acked int // messages acknowledged by the server

	inflight []jetstream.PubAckFuture // ring of futures, oldest at head
	head, n  int
	timer    *time.Timer // for ackWait, created on first use
}

// remaining returns how many messages may still be sent.
func (p *publisher) remaining() int {
	if p.count == 0 {
		return math.MaxInt
	}
	return p.count - p.sent
}

func (p *publisher) runUnpaced(ctx context.Context, prog *progress) error {
	for p.remaining() > 0 && ctx.Err() == nil {
		select {
		case now := <-prog.c:
			prog.report(now, p.acked)
		default:
		}
		for range min(unpacedBatch, p.remaining()) {
			if err := p.send(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *publisher) runPaced(ctx context.Context, rate float64, prog *progress) error {
	// Refill often enough for smooth output at high rates, rarely at low
	// ones; allow a burst of two ticks so ticker jitter costs no rate.
	tick := min(max(time.Duration(float64(time.Second)/rate), 10*time.Millisecond), time.Second)
	burst := max(1, 2*rate*tick.Seconds())
	ticker := time.NewTicker(tick)
	defer ticker.Stop()

	tokens, last := 1.0, time.Now()
	refill := func(now time.Time) {
		tokens = min(burst, tokens+rate*now.Sub(last).Seconds())
		last = now
	}
	for p.remaining() > 0 && ctx.Err() == nil {
		if tokens >= 1 {
			n := int(min(tokens, unpacedBatch, float64(p.remaining())))
			for range n {
				if err := p.send(ctx); err != nil {
					return err
				}
			}
			tokens -= float64(n)
			select {
			case now := <-ticker.C:
				refill(now)
			case now := <-prog.c:
				prog.report(now, p.acked)
			default:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			refill(now)
		case now := <-prog.c:
			prog.report(now, p.acked)
		}
	}
	return nil
}

// send publishes the next message of the generator. A synchronous publish
// outlives the cancellation of ctx, like an asynchronous one in flight, so
// that every message sent is either acknowledged or reported as failed.
func (p *publisher) send(ctx context.Context) error {
	m := p.gen.Next()
	msg := p.gen.NATSMsg(m)
	p.sent++
	if !p.async {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackWait)
		_, err := p.js.PublishMsg(pctx, msg)
		cancel()
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.MsgID, err)
		}
		p.acked++
		return nil
	}
	if p.inflight == nil {
		p.inflight = make([]jetstream.PubAckFuture, maxInFlight)
	}
	if p.n == len(p.inflight) {
		if err := p.awaitOldest(); err != nil {
			return err
		}
	}
	for {
		f, err := p.js.PublishMsgAsync(msg)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && p.n > 0 {
			// The client's own bound is lower than ours: make room.
			if err := p.awaitOldest(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.MsgID, err)
		}
		p.inflight[(p.head+p.n)%len(p.inflight)] = f
		p.n++
		return nil
	}
}

// awaitOldest waits for the ack of the oldest publish in flight.
func (p *publisher) awaitOldest() error {
	f := p.inflight[p.head]
	p.inflight[p.head] = nil
	p.head = (p.head + 1) % len(p.inflight)
	p.n--

	var timeout <-chan time.Time
	select {
	case <-f.Ok():
		p.acked++
		return nil
	case err := <-f.Err():
		return p.failed(f, err)
	default:
		if p.timer == nil {
			p.timer = time.NewTimer(ackWait)
		} else {
			p.timer.Reset(ackWait)
		}
		timeout = p.timer.C
	}
	defer p.timer.Stop()
	select {
	case <-f.Ok():
		p.acked++
		return nil
	case err := <-f.Err():
		return p.failed(f, err)
	case <-timeout:
		return p.failed(f, fmt.Errorf("no ack within %s", ackWait))
	}
}

func (p *publisher) failed(f jetstream.PubAckFuture, err error) error {
	return fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
}

// drain waits for every publish in flight and returns the first error.
func (p *publisher) drain() error {
	var first error
	for p.n > 0 {
		if err := p.awaitOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// progress writes progress lines; a nil *progress writes nothing.
type progress struct {
	w      io.Writer
	ticker *time.Ticker
	c      <-chan time.Time // ticker.C, or nil when quiet
	start  time.Time
	last   time.Time
	count  int // acked at last
}

func newProgress(w io.Writer) *progress {
	now := time.Now()
	p := &progress{w: w, start: now, last: now}
	if w != nil {
		p.ticker = time.NewTicker(progressEvery)
		p.c = p.ticker.C
	}
	return p
}

func (p *progress) report(now time.Time, acked int) {
	rate := float64(acked-p.count) / now.Sub(p.last).Seconds()
	_, _ = fmt.Fprintf(p.w, "simulate: published %d messages, %.0f/s, elapsed %s\n",
		acked, rate, now.Sub(p.start).Round(time.Second))
	p.last, p.count = now, acked
}

func (p *progress) final(acked int) {
	if p.w == nil {
		return
	}
	elapsed := time.Since(p.start)
	_, _ = fmt.Fprintf(p.w, "simulate: done: published %d messages, %.0f/s, elapsed %s\n",
		acked, float64(acked)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
}

func (p *progress) stop() {
	if p.ticker != nil {
		p.ticker.Stop()
	}
}
