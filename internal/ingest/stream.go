package ingest

// Stream setup: finding or creating the stream and the dead-letter
// stream, and where a reading starts.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

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
