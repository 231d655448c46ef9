package simulate

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// startJetStream runs an in-process NATS server with JetStream and returns
// a JetStream context connected to it. withStream creates the contract's
// stream with a two-minute duplicate window. Everything is shut down when
// the test ends.
func startJetStream(t *testing.T, withStream bool, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true,
		NoLog:     true,
	})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second), "server not ready")

	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, opts...)
	require.NoError(t, err)
	if !withStream {
		return js, nil
	}
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name:       "HELPDESK_EVENTS",
		Subjects:   []string{"helpdesk.events.>"},
		Duplicates: 2 * time.Minute,
	})
	require.NoError(t, err)
	return js, stream
}

// distinctIDs counts the distinct ids among the first n messages of the
// stream cfg describes, generated independently of the publisher.
func distinctIDs(cfg Config, n int) int {
	ids := map[string]bool{}
	for _, m := range generate(cfg, n) {
		ids[m.MsgID] = true
	}
	return len(ids)
}

// storedMessages returns the number of messages in the stream.
func storedMessages(t *testing.T, stream jetstream.Stream) int {
	t.Helper()
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	return int(info.State.Msgs)
}

func TestPublishDeduplicates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DuplicateShare = 0.05
	tests := []struct {
		name  string
		count int
		async bool
		opts  []jetstream.JetStreamOpt
	}{
		{"async", 5000, true, nil},
		{"async with a small client bound", 5000, true, []jetstream.JetStreamOpt{jetstream.WithPublishAsyncMaxPending(64)}},
		{"sync", 1000, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, stream := startJetStream(t, true, tt.opts...)
			want := distinctIDs(cfg, tt.count)
			require.Less(t, want, tt.count, "the stream must hold duplicates for this test to mean anything")

			published, err := Publish(t.Context(), js, NewGenerator(cfg), PublishConfig{Count: tt.count, Async: tt.async})
			require.NoError(t, err)
			require.Equal(t, tt.count, published)
			require.Equal(t, want, storedMessages(t, stream), "JetStream should have dropped the repeats")
		})
	}
}

func TestPublishSetsSubjectAndID(t *testing.T) {
	js, stream := startJetStream(t, true)
	cfg := Config{Seed: 5}
	want := generate(cfg, 20)
	_, err := Publish(t.Context(), js, NewGenerator(cfg), PublishConfig{Count: len(want), Async: true})
	require.NoError(t, err)

	for i, m := range want {
		got, err := stream.GetMsg(t.Context(), uint64(i+1))
		require.NoError(t, err)
		require.Equal(t, m.Subject, got.Subject)
		require.Equal(t, m.MsgID, got.Header.Get(jetstream.MsgIDHeader))
		require.Equal(t, m.Data, got.Data)
	}
}

func TestPublishPaced(t *testing.T) {
	js, stream := startJetStream(t, true)
	const count, rate = 200, 2000.0
	var progress bytes.Buffer
	start := time.Now()
	published, err := Publish(t.Context(), js, NewGenerator(Config{Seed: 3}), PublishConfig{Rate: rate, Count: count, Async: true, Progress: &progress})
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, count, published)
	require.Equal(t, count, storedMessages(t, stream))
	// One token to start with, then rate tokens a second: sending count
	// messages takes at least (count-1)/rate.
	require.GreaterOrEqual(t, elapsed, time.Duration(float64(count-1)/rate*float64(time.Second)))
	require.Contains(t, progress.String(), "simulate: done: published 200 messages")
}

func TestPublishStopsWhenContextEnds(t *testing.T) {
	cfg := Config{Seed: 4, DuplicateShare: 0.05}
	tests := []struct {
		name  string
		async bool
		rate  float64
	}{
		{"async unpaced", true, 0},
		{"sync unpaced", false, 0},
		{"async paced", true, 5000},
		{"paced faster than possible", true, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, stream := startJetStream(t, true)

			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			published, err := Publish(cancelled, js, NewGenerator(cfg), PublishConfig{Async: tt.async, Rate: tt.rate})
			require.NoError(t, err)
			require.Zero(t, published)

			// Unbounded until the deadline; everything in flight then is
			// still acknowledged and counted.
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			published, err = Publish(ctx, js, NewGenerator(cfg), PublishConfig{Async: tt.async, Rate: tt.rate})
			require.NoError(t, err)
			require.Positive(t, published)
			require.Equal(t, distinctIDs(cfg, published), storedMessages(t, stream))
		})
	}
}

func TestPublishFails(t *testing.T) {
	for _, async := range []bool{true, false} {
		t.Run(map[bool]string{true: "async", false: "sync"}[async], func(t *testing.T) {
			js, _ := startJetStream(t, false) // no stream: nothing answers
			published, err := Publish(t.Context(), js, NewGenerator(Config{}), PublishConfig{Count: 10, Async: async})
			require.ErrorIs(t, err, jetstream.ErrNoStreamResponse)
			require.ErrorContains(t, err, "simulate: publish e-0-")
			require.Zero(t, published)
		})
	}
}

func TestPublishConfigInvalid(t *testing.T) {
	tests := []struct {
		name    string
		cfg     PublishConfig
		wantErr string
	}{
		{"negative rate", PublishConfig{Rate: -1}, "PublishConfig.Rate is -1"},
		{"negative count", PublishConfig{Count: -5}, "PublishConfig.Count is -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			published, err := Publish(t.Context(), nil, NewGenerator(Config{}), tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			require.Zero(t, published)
		})
	}
}

func TestPreload(t *testing.T) {
	js, stream := startJetStream(t, true)
	cfg := DefaultConfig()
	const n = 3000
	var progress bytes.Buffer
	require.NoError(t, Preload(t.Context(), js, NewGenerator(cfg), n, &progress))
	require.Equal(t, distinctIDs(cfg, n), storedMessages(t, stream))
	require.Contains(t, progress.String(), "published 3000 messages")

	require.NoError(t, Preload(t.Context(), js, NewGenerator(cfg), 0, nil))

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	err := Preload(cancelled, js, NewGenerator(cfg), n, nil)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.ErrorContains(t, err, "simulate: preload stopped after 0 of 3000 messages")
}
