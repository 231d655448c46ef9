package ingest

// Per-message handling: the position in an acknowledgement subject,
// decoding into a batch, dead-lettering what is rejected.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

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
// An event is from the future when it lies more than the clock skew past the
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
	if err == nil && ev.OccurredAt > min(c.readAt, stored)+int64(c.skew) {
		err = &events.Error{Reason: events.ReasonFuture, Field: "occurred_at",
			Detail: "more than " + c.skew.String() + " after the time the stream stored it"}
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
