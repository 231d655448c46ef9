package ingest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// running is a consumer reading its stream in the background, with what it
// handed over counted.
type running struct {
	c        *Consumer
	logs     *lockedBuffer
	events   atomic.Int64
	rejected atomic.Int64
}

// lockedBuffer is a log sink that the test may read while the consumer
// writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startConsumer runs a consumer of the default configuration, edited,
// against srv from the stream's first message; it stops when the test
// ends.
func startConsumer(t *testing.T, srv *natstest.Server, edit func(*Config)) *running {
	t.Helper()
	return startConsumerWith(t, srv, edit, nil)
}

// startConsumerWith is startConsumer with the consumer tuned (its log
// clock, say) before it runs.
func startConsumerWith(t *testing.T, srv *natstest.Server, edit func(*Config), tune func(*Consumer)) *running {
	t.Helper()
	nc, _ := srv.Connect(t)
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	r := &running{logs: &lockedBuffer{}}
	c, err := New(cfg, 5*time.Minute, nc, zerolog.New(r.logs), prometheus.NewRegistry(), time.Now)
	require.NoError(t, err)
	r.c = c
	if tune != nil {
		tune(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.EnsureStream(ctx)
	require.NoError(t, err)
	start, err := c.StartSeq(ctx, stream, Position{})
	require.NoError(t, err)
	out := make(chan *events.Batch, 4)
	done := make(chan error, 1)
	drained := make(chan struct{})
	go func() { done <- c.Run(ctx, stream, start, out) }()
	go func() {
		defer close(drained)
		for b := range out {
			r.events.Add(int64(len(b.Events)))
			r.rejected.Add(int64(len(b.Rejected)))
			b.Release()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-drained
		require.NoError(t, <-done)
	})
	return r
}

// waitUntil polls cond every 10ms until it holds, failing the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, timeout, 10*time.Millisecond, "waiting for %s", what)
}

func publishRaw(t *testing.T, js jetstream.JetStream, subject, id string, body []byte) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, id)
	_, err := js.PublishMsg(context.Background(), m)
	require.NoError(t, err)
}

// TestDeadLetterStreamRecreated deletes the dead-letter stream under a
// running consumer: the next rejected message creates it again and is
// stored in it, with its headers.
func TestDeadLetterStreamRecreated(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	r := startConsumer(t, srv, nil)
	ctx := context.Background()
	require.NoError(t, js.DeleteStream(ctx, "HELPDESK_DEADLETTER"))

	publishRaw(t, js, "helpdesk.events.x", "poison-1", []byte("not json"))
	waitUntil(t, 10*time.Second, "the rejection", func() bool { return r.rejected.Load() == 1 })
	require.Equal(t, 1.0, testutil.ToFloat64(r.c.metrics.deadLettered))
	require.Equal(t, 0.0, testutil.ToFloat64(r.c.metrics.deadLetterFailures))

	dl, err := js.Stream(ctx, "HELPDESK_DEADLETTER")
	require.NoError(t, err, "the dead-letter stream is created again")
	msg, err := dl.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "helpdesk.deadletter", msg.Subject)
	require.Equal(t, []byte("not json"), msg.Data)
	require.Equal(t, "HELPDESK_EVENTS-1", msg.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, "invalid_json", msg.Header.Get("Helpdesk-Reject-Reason"))
	require.NotEmpty(t, msg.Header.Get("Helpdesk-Reject-Error"))
	require.Equal(t, "1", msg.Header.Get("Helpdesk-Stream-Sequence"))
	require.Equal(t, "helpdesk.events.x", msg.Header.Get("Helpdesk-Subject"))
}

// TestDeadLetterNotStored makes JetStream unable to store a dead letter:
// it is counted as a failure, not as dead-lettered, and the consumer goes
// on.
func TestDeadLetterNotStored(t *testing.T) {
	t.Run("dead-letter stream full", func(t *testing.T) {
		srv := natstest.Start(t)
		_, js := srv.Connect(t)
		ctx := context.Background()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_DEADLETTER", Subjects: []string{"helpdesk.deadletter"},
			MaxMsgs: 1, Discard: jetstream.DiscardNew})
		require.NoError(t, err)
		publishRaw(t, js, "helpdesk.deadletter", "filler", []byte("fills the stream"))
		r := startConsumer(t, srv, nil)
		testNotStored(t, js, r)
		require.Contains(t, r.logs.String(), "maximum messages")
	})
	t.Run("no stream and creation off", func(t *testing.T) {
		srv := natstest.Start(t)
		_, js := srv.Connect(t)
		_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
		require.NoError(t, err)
		r := startConsumer(t, srv, func(c *Config) { c.CreateStream = false })
		testNotStored(t, js, r)
		require.Contains(t, r.logs.String(), "create a stream for helpdesk.deadletter")
	})
	t.Run("no acknowledgement", func(t *testing.T) {
		// Something listens on the dead-letter subject, but it is no
		// stream: the publish waits for an acknowledgement that never
		// comes, up to the timeout.
		srv := natstest.Start(t)
		nc, js := srv.Connect(t)
		_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
		require.NoError(t, err)
		sub, err := nc.SubscribeSync("helpdesk.deadletter")
		require.NoError(t, err)
		r := startConsumer(t, srv, func(c *Config) { c.CreateStream = false; c.DeadLetterTimeout = 200 * time.Millisecond })
		testNotStored(t, js, r)
		require.Contains(t, r.logs.String(), "not acknowledged by JetStream within 200ms")
		_, err = sub.NextMsg(time.Second)
		require.NoError(t, err, "the copy was sent")
	})
}

func testNotStored(t *testing.T, js jetstream.JetStream, r *running) {
	t.Helper()
	publishRaw(t, js, "helpdesk.events.x", "poison-1", []byte("not json"))
	publishRaw(t, js, "helpdesk.events.ticket.opened", "ok-1",
		[]byte(`{"id":"ok-1","type":"ticket.opened","ticket_id":"T-1","occurred_at":"2026-01-01T00:00:00Z"}`))
	waitUntil(t, 10*time.Second, "the rejection and the event after it", func() bool {
		return r.rejected.Load() == 1 && r.events.Load() == 1
	})
	require.Equal(t, 0.0, testutil.ToFloat64(r.c.metrics.deadLettered))
	require.Equal(t, 1.0, testutil.ToFloat64(r.c.metrics.deadLetterFailures))
}
