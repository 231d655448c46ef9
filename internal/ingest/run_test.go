package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// gotBatch is a copy of a Batch as Run handed it over: the batch itself is
// reused once released, and its events alias message data.
type gotBatch struct {
	ids      []string // event ids, in order
	stored   []int64
	rejected []events.Reason
	lastSeq  uint64
	pending  uint64
	created  time.Time
}

// reader is a consumer whose batches a test inspects.
type reader struct {
	c      *Consumer
	stream jetstream.Stream
	logs   *lockedBuffer

	mu      sync.Mutex
	batches []gotBatch
}

// newReader makes a consumer of the default configuration, edited, with
// clock now, and makes sure its stream exists; it does not run it.
func newReader(t *testing.T, srv *natstest.Server, edit func(*Config), now func() time.Time) *reader {
	t.Helper()
	nc, _ := srv.Connect(t)
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	r := &reader{logs: &lockedBuffer{}}
	c, err := New(cfg, 5*time.Minute, nc, zerolog.New(r.logs), prometheus.NewRegistry(), now)
	require.NoError(t, err)
	r.c = c
	r.stream, err = c.EnsureStream(context.Background())
	require.NoError(t, err)
	return r
}

// run runs the consumer from start until the test ends, recording every
// batch.
func (r *reader) run(t *testing.T, start Position) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *events.Batch, 4)
	done := make(chan error, 1)
	drained := make(chan struct{})
	go func() { done <- r.c.Run(ctx, r.stream, start, out) }()
	go func() {
		defer close(drained)
		for b := range out {
			g := gotBatch{stored: slices.Clone(b.Stored), rejected: slices.Clone(b.Rejected),
				lastSeq: b.LastSeq, pending: b.Pending, created: b.StreamCreated}
			for _, e := range b.Events {
				g.ids = append(g.ids, string(e.ID))
			}
			b.Release()
			r.mu.Lock()
			r.batches = append(r.batches, g)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-drained
		require.NoError(t, <-done)
	})
}

// got returns the batches handed over so far.
func (r *reader) got() []gotBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// waitCaughtUp waits until a batch ends at stream sequence last with
// nothing pending, and returns the batches up to then.
func (r *reader) waitCaughtUp(t *testing.T, last uint64) []gotBatch {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("a batch ending at %d with nothing pending", last), func() bool {
		bs := r.got()
		return len(bs) > 0 && bs[len(bs)-1].lastSeq == last && bs[len(bs)-1].pending == 0
	})
	return r.got()
}

// ids returns the event ids of batches, in order.
func ids(bs []gotBatch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ids...)
	}
	return out
}

// regressionCounts returns helpdesk_stream_regressions_total{kind="behind"}
// and {kind="gap"}.
func regressionCounts(c *Consumer) (behind, gap float64) {
	return testutil.ToFloat64(c.metrics.regressions.WithLabelValues("behind")),
		testutil.ToFloat64(c.metrics.regressions.WithLabelValues("gap"))
}

// opening is a valid ticket.opened with id e-<n>.
func opening(n int) []byte {
	return fmt.Appendf(nil, `{"id":"e-%d","type":"ticket.opened","ticket_id":"T-%d","occurred_at":"2026-01-01T00:00:00Z"}`, n, n)
}

// publishOpenings publishes e-<from> to e-<to>.
func publishOpenings(t *testing.T, js jetstream.JetStream, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		publishRaw(t, js, "helpdesk.events.ticket.opened", fmt.Sprint("e-", i), opening(i))
	}
}

func streamCreated(t *testing.T, s jetstream.Stream) time.Time {
	t.Helper()
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.Created
}

// TestRunDeliversBatchesInStreamOrder reads a stream that holds ten
// messages, one of them poison, in batches of four: the batches come in
// stream order, split where they fill up and where the stream ends, each
// with its last sequence, what is pending after it, and when the stream
// stored each event; then live messages follow.
func TestRunDeliversBatchesInStreamOrder(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	r := newReader(t, srv, func(c *Config) { c.BatchSize = 4 }, time.Now)
	for i := 1; i <= 10; i++ {
		if i == 6 {
			publishRaw(t, js, "helpdesk.events.x", "poison", []byte("not json"))
			continue
		}
		publishRaw(t, js, "helpdesk.events.ticket.opened", fmt.Sprint("e-", i), opening(i))
	}
	created := streamCreated(t, r.stream)
	start, err := r.c.StartSeq(context.Background(), r.stream, Position{})
	require.NoError(t, err)
	require.Equal(t, Position{Seq: 1, StreamCreated: created}, start)
	r.run(t, start)

	bs := r.waitCaughtUp(t, 10)
	// Everything was stored before reading began, so the batches are
	// cut by size alone (four messages, the poison one included) and at
	// the stream's end; pending is what follows each batch's last message.
	require.Len(t, bs, 3)
	want := []struct {
		ids      []string
		rejected []events.Reason
		lastSeq  uint64
		pending  uint64
	}{
		{[]string{"e-1", "e-2", "e-3", "e-4"}, nil, 4, 6},
		{[]string{"e-5", "e-7", "e-8"}, []events.Reason{events.ReasonInvalidJSON}, 8, 2},
		{[]string{"e-9", "e-10"}, nil, 10, 0},
	}
	seqOf := func(id string) uint64 { // e-<n> is stream sequence n here
		var n uint64
		_, err := fmt.Sscanf(id, "e-%d", &n)
		require.NoError(t, err)
		return n
	}
	for i, w := range want {
		b := bs[i]
		require.Equal(t, w.ids, b.ids, "batch %d", i)
		require.Equal(t, w.rejected, b.rejected, "batch %d", i)
		require.Equal(t, w.lastSeq, b.lastSeq, "batch %d", i)
		require.Equal(t, w.pending, b.pending, "batch %d", i)
		require.True(t, b.created.Equal(created), "batch %d: the stream's creation time", i)
		require.Len(t, b.stored, len(b.ids), "batch %d: one stored time per event", i)
		for j, id := range b.ids {
			m, err := r.stream.GetMsg(context.Background(), seqOf(id))
			require.NoError(t, err)
			require.Equal(t, m.Time.UnixNano(), b.stored[j], "batch %d, %s: when the stream stored it", i, id)
		}
	}

	// Live messages: however they are cut, they come in order after the
	// rest, and the last batch has nothing pending.
	publishOpenings(t, js, 11, 12)
	bs = r.waitCaughtUp(t, 12)
	require.Equal(t, []string{"e-1", "e-2", "e-3", "e-4", "e-5", "e-7", "e-8", "e-9", "e-10", "e-11", "e-12"}, ids(bs))
	for i := 1; i < len(bs); i++ {
		require.Greater(t, bs[i].lastSeq, bs[i-1].lastSeq, "batch %d", i)
		require.LessOrEqual(t, bs[i].pending, 12-bs[i].lastSeq, "batch %d", i)
	}
	behind, gap := regressionCounts(r.c)
	require.Zero(t, behind)
	require.Zero(t, gap)
}

// TestRunWithNothingToRead: when the stream holds nothing at or after the
// start, Run hands over an empty batch at once, positioned just before the
// start with nothing pending, so that the state counts as caught up (and a
// position moved past a gap is what the next snapshot records).
func TestRunWithNothingToRead(t *testing.T) {
	cases := []struct {
		name     string
		prepare  func(t *testing.T, js jetstream.JetStream, s jetstream.Stream)
		applied  func(created time.Time) Position
		wantSeq  uint64 // the empty batch's LastSeq
		wantGap  float64
		nextSeq  uint64 // the sequence the next message gets
		nextWant string
	}{
		{
			name:    "fresh stream",
			prepare: func(*testing.T, jetstream.JetStream, jetstream.Stream) {},
			applied: func(time.Time) Position { return Position{} },
			wantSeq: 0, nextSeq: 1, nextWant: "e-1",
		},
		{
			name: "caught up with the snapshot",
			prepare: func(t *testing.T, js jetstream.JetStream, _ jetstream.Stream) {
				publishOpenings(t, js, 1, 3)
			},
			applied: func(c time.Time) Position { return Position{Seq: 3, StreamCreated: c} },
			wantSeq: 3, nextSeq: 4, nextWant: "e-4",
		},
		{
			name: "every message removed, two of them unapplied",
			prepare: func(t *testing.T, js jetstream.JetStream, s jetstream.Stream) {
				publishOpenings(t, js, 1, 5)
				require.NoError(t, s.Purge(context.Background()))
			},
			applied: func(c time.Time) Position { return Position{Seq: 3, StreamCreated: c} },
			wantSeq: 5, wantGap: 1, nextSeq: 6, nextWant: "e-6",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			_, js := srv.Connect(t)
			r := newReader(t, srv, nil, time.Now)
			tc.prepare(t, js, r.stream)
			created := streamCreated(t, r.stream)
			start, err := r.c.StartSeq(context.Background(), r.stream, tc.applied(created))
			require.NoError(t, err)
			r.run(t, start)
			bs := r.waitCaughtUp(t, tc.wantSeq)
			require.Len(t, bs, 1)
			require.Empty(t, bs[0].ids)
			require.Empty(t, bs[0].rejected)
			require.True(t, bs[0].created.Equal(created))
			behind, gap := regressionCounts(r.c)
			require.Zero(t, behind)
			require.Equal(t, tc.wantGap, gap)

			publishOpenings(t, js, int(tc.nextSeq), int(tc.nextSeq))
			bs = r.waitCaughtUp(t, tc.nextSeq)
			require.Equal(t, []string{tc.nextWant}, ids(bs))
		})
	}
}

// TestRunCountsRegressions starts Run on streams that do not continue
// where the start says (StartSeq chose it earlier, or the stream changed
// since): messages removed before they were read count as a gap, a stream
// behind the start or recreated since counts as behind and is read from
// its first message; either way every message still there is delivered,
// once, in order.
func TestRunCountsRegressions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name        string
		prepare     func(t *testing.T, s jetstream.Stream)
		start       func(created time.Time) Position
		wantIDs     []string
		behind, gap float64
		wantLog     string
	}{
		{
			name:    "a message deleted before it was read",
			prepare: func(t *testing.T, s jetstream.Stream) { require.NoError(t, s.DeleteMsg(ctx, 3)) },
			start:   func(c time.Time) Position { return Position{Seq: 1, StreamCreated: c} },
			wantIDs: []string{"e-1", "e-2", "e-4", "e-5"},
			gap:     1, wantLog: `"from_seq":3,"to_seq":3`,
		},
		{
			name: "messages purged after the start was chosen",
			prepare: func(t *testing.T, s jetstream.Stream) {
				require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSequence(4)))
			},
			start:   func(c time.Time) Position { return Position{Seq: 1, StreamCreated: c} },
			wantIDs: []string{"e-4", "e-5"},
			gap:     1, wantLog: `"from_seq":1,"to_seq":3`,
		},
		{
			name:    "started past the stream's end",
			prepare: func(*testing.T, jetstream.Stream) {},
			start:   func(c time.Time) Position { return Position{Seq: 9, StreamCreated: c} },
			wantIDs: []string{"e-1", "e-2", "e-3", "e-4", "e-5"},
			behind:  1, wantLog: "the stream went behind what was applied",
		},
		{
			name:    "started in an earlier incarnation of the stream",
			prepare: func(*testing.T, jetstream.Stream) {},
			start:   func(c time.Time) Position { return Position{Seq: 2, StreamCreated: c.Add(-time.Hour)} },
			wantIDs: []string{"e-1", "e-2", "e-3", "e-4", "e-5"},
			behind:  1, wantLog: "the stream was deleted and created again",
		},
		{
			name: "started in an earlier incarnation, the new one's first messages removed",
			prepare: func(t *testing.T, s jetstream.Stream) {
				require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSequence(3)))
			},
			start:   func(c time.Time) Position { return Position{Seq: 4, StreamCreated: c.Add(-time.Hour)} },
			wantIDs: []string{"e-3", "e-4", "e-5"},
			behind:  1, gap: 1, wantLog: `"from_seq":1,"to_seq":2`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			_, js := srv.Connect(t)
			r := newReader(t, srv, nil, time.Now)
			publishOpenings(t, js, 1, 5)
			tc.prepare(t, r.stream)
			created := streamCreated(t, r.stream)
			r.run(t, tc.start(created))
			bs := r.waitCaughtUp(t, 5)
			require.Equal(t, tc.wantIDs, ids(bs))
			behind, gap := regressionCounts(r.c)
			require.Equal(t, tc.behind, behind, "behind")
			require.Equal(t, tc.gap, gap, "gap")
			require.Contains(t, r.logs.String(), tc.wantLog)
			for _, b := range bs {
				require.True(t, b.created.Equal(created), "batches count in the stream as it is")
			}
		})
	}
}

// TestDeadLetterHeaders rejects one message for each reason the consumer
// can meet, among valid ones: each copy in the dead-letter stream holds the
// message's data and says why, where from and which sequence, under a
// message id that makes copying it again (a restart reading the stream
// again) harmless.
func TestDeadLetterHeaders(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	// The clock stands at 00:10; with a skew of 5 minutes an event is from
	// the future past 00:15 (the stream stores messages later than that:
	// the earlier of the two counts).
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newReader(t, srv, nil, clock)

	type poison struct {
		subject string
		body    []byte
		reason  events.Reason
	}
	big := []byte(`{"id":"big","x":"` + strings.Repeat("a", events.MaxSize) + `"}`)
	poisons := map[uint64]poison{ // by stream sequence
		2: {"helpdesk.events.x", []byte("not json"), events.ReasonInvalidJSON},
		3: {"helpdesk.events.ticket.closed", []byte(`{"id":"u-1","type":"ticket.closed","ticket_id":"T-1","occurred_at":"2026-01-01T00:00:00Z"}`), events.ReasonUnknownType},
		4: {"helpdesk.events.ticket.opened", []byte(`{"id":"m-1","type":"ticket.opened","occurred_at":"2026-01-01T00:00:00Z"}`), events.ReasonMissingField},
		5: {"helpdesk.events.ticket.opened", []byte(`{"id":"f-1","type":"ticket.opened","ticket_id":"T-2","occurred_at":"2026-01-01T00:15:00.001Z"}`), events.ReasonFuture},
		6: {"helpdesk.events.survey.answered", []byte(`{"id":"o-1","type":"survey.answered","ticket_id":"T-1","occurred_at":"2026-01-01T00:00:00Z","survey":{"kind":"csat","score":6}}`), events.ReasonOutOfRange},
		7: {"helpdesk.events.ticket.opened", []byte(`{"id":"v-1","type":"ticket.opened","ticket_id":"T-3","occurred_at":"2026-01-01T00:00:00Z","priority":"critical"}`), events.ReasonInvalidValue},
		8: {"helpdesk.events.ticket.opened", big, events.ReasonTooLarge},
	}
	publishRaw(t, js, "helpdesk.events.ticket.opened", "e-1", opening(1))
	for seq := uint64(2); seq <= 8; seq++ {
		p := poisons[seq]
		publishRaw(t, js, p.subject, fmt.Sprint("p-", seq), p.body)
	}
	publishRaw(t, js, "helpdesk.events.ticket.opened", "e-9", opening(9))
	r.run(t, Position{Seq: 1})
	bs := r.waitCaughtUp(t, 9)
	require.Equal(t, []string{"e-1", "e-9"}, ids(bs))
	var rejected []events.Reason
	for _, b := range bs {
		rejected = append(rejected, b.rejected...)
	}
	require.Len(t, rejected, len(poisons))
	for i, reason := range rejected {
		require.Equal(t, poisons[uint64(i+2)].reason, reason, "stream sequence %d", i+2)
	}
	require.Equal(t, float64(len(poisons)), testutil.ToFloat64(r.c.metrics.deadLettered))
	require.Zero(t, testutil.ToFloat64(r.c.metrics.deadLetterFailures))

	dl, err := js.Stream(ctx, "HELPDESK_DEADLETTER")
	require.NoError(t, err)
	checkCopies := func() {
		t.Helper()
		info, err := dl.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(len(poisons)), info.State.Msgs, "one copy of each rejected message")
		for dseq := uint64(1); dseq <= info.State.LastSeq; dseq++ {
			m, err := dl.GetMsg(ctx, dseq)
			require.NoError(t, err)
			seq := dseq + 1 // the copies are in stream order: 2 to 8
			p := poisons[seq]
			wantErr := "future: occurred_at: more than 5m0s after the time the stream stored it"
			if p.reason != events.ReasonFuture {
				var ev events.Event
				err := events.Decode(p.body, &ev)
				require.Error(t, err)
				wantErr = err.Error()
			}
			require.Equal(t, "helpdesk.deadletter", m.Subject)
			require.Equal(t, p.body, m.Data, "seq %d: the message's data, unchanged", seq)
			require.Equal(t, fmt.Sprint("HELPDESK_EVENTS-", seq), m.Header.Get(jetstream.MsgIDHeader), "seq %d", seq)
			require.Equal(t, string(p.reason), m.Header.Get("Helpdesk-Reject-Reason"), "seq %d", seq)
			require.Equal(t, wantErr, m.Header.Get("Helpdesk-Reject-Error"), "seq %d", seq)
			require.Equal(t, fmt.Sprint(seq), m.Header.Get("Helpdesk-Stream-Sequence"), "seq %d", seq)
			require.Equal(t, p.subject, m.Header.Get("Helpdesk-Subject"), "seq %d", seq)
		}
	}
	checkCopies()

	// A second reading of the stream from its start (a restart without a
	// snapshot) copies the same messages again: JetStream acknowledges
	// them as duplicates, and the dead-letter stream is unchanged.
	again := newReader(t, srv, nil, clock)
	again.run(t, Position{Seq: 1})
	again.waitCaughtUp(t, 9)
	require.Equal(t, float64(len(poisons)), testutil.ToFloat64(again.c.metrics.deadLettered))
	require.Zero(t, testutil.ToFloat64(again.c.metrics.deadLetterFailures))
	checkCopies()
}
