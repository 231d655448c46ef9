package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

// TestSimulateContractVersion publishes with `aggregator simulate` and
// checks the event types that reach the stream: v2 by default, v1 with -v1
// or AGGREGATOR_V1.
func TestSimulateContractVersion(t *testing.T) {
	v2Types := []string{"ticket.replied", "ticket.customer_message", "ticket.status_changed", "ticket.updated"}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		v1         bool
		overloaded bool
	}{
		{"default", nil, nil, false, false},
		{"flag", []string{"-v1"}, nil, true, false},
		{"environment", nil, map[string]string{"AGGREGATOR_V1": "true"}, true, false},
		{"flag false", []string{"-v1=false"}, map[string]string{"AGGREGATOR_V1": "true"}, false, false},
		{"overloaded", []string{"-overloaded"}, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Start(t)
			_, js := srv.Connect(t)
			stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
			require.NoError(t, err)

			// 20,000 messages at 600 tickets an hour: more than two
			// hours of event time, with every type of the stream.
			args := append([]string{"-nats-url", srv.ClientURL(), "-seed", "7", "-tickets-per-hour", "600", "-rate", "1e6", "-count", "20000"}, tt.args...)
			var out bytes.Buffer
			require.NoError(t, runSimulate(t.Context(), args, func(k string) string { return tt.env[k] }, &out, io.Discard))
			want := "contract=v2 seed=7 tickets-per-hour=600 duplicates=0.02 disorder=0.02 team=healthy"
			if tt.v1 {
				want = "contract=v1 seed=7 tickets-per-hour=600 duplicates=0.02 disorder=0.02 team=overloaded"
			}
			if tt.overloaded {
				want = "contract=v2 seed=7 tickets-per-hour=600 duplicates=0.02 disorder=0.02 team=overloaded"
			}
			require.Contains(t, out.String(), want)

			info, err := stream.Info(t.Context(), jetstream.WithSubjectFilter("helpdesk.events.>"))
			require.NoError(t, err)
			for _, typ := range v2Types {
				n := info.State.Subjects["helpdesk.events."+typ]
				if tt.v1 {
					require.Zero(t, n, typ)
				} else {
					require.NotZero(t, n, typ)
				}
			}
			require.NotZero(t, info.State.Subjects["helpdesk.events.ticket.first_reply"])
			require.NotZero(t, info.State.Subjects["helpdesk.events.ticket.resolved"])
		})
	}
}

func TestSimulateUsage(t *testing.T) {
	var usage strings.Builder
	err := runSimulate(t.Context(), []string{"-h"}, func(string) string { return "" }, &usage, io.Discard)
	require.True(t, errors.Is(err, flag.ErrHelp), "simulate -h: %v", err)
	require.Contains(t, usage.String(), "By default it speaks contract v2")
	require.Contains(t, usage.String(), "  -v1   (AGGREGATOR_V1)\n")
	require.Contains(t, usage.String(), "  -overloaded   (AGGREGATOR_OVERLOADED)\n")
	require.Contains(t, usage.String(), "random seed; the same seed gives the same stream (default 1)")
}

// TestSimulateResumes runs `aggregator simulate` three times on one stream
// and checks that the stream then holds exactly the messages of one
// uninterrupted run, each once; a run with another seed is refused.
func TestSimulateResumes(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	env := func(string) string { return "" }
	common := []string{"-nats-url", srv.ClientURL(), "-seed", "7", "-tickets-per-hour", "600", "-duplicates", "0.1", "-rate", "1e6"}
	for i, n := range []string{"1500", "1", "3000"} {
		var out bytes.Buffer
		require.NoError(t, runSimulate(t.Context(), append(common, "-count", n), env, &out, io.Discard))
		if i > 0 {
			require.Contains(t, out.String(), "simulate: resuming: stream HELPDESK_EVENTS holds this run up to message ")
		} else {
			require.NotContains(t, out.String(), "resuming")
		}
	}

	last, found, err := simulate.LastStored(t.Context(), stream)
	require.NoError(t, err)
	require.True(t, found)
	cfg := simulate.Config{Seed: 7, Start: last.Start, TicketsPerHour: 600, DuplicateShare: 0.1, DisorderShare: simulate.DefaultConfig().DisorderShare}
	require.Equal(t, cfg.Run(), last.Run)
	gen := simulate.NewGenerator(cfg)
	seen := map[string]bool{}
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	for seq := uint64(1); seq <= info.State.LastSeq; {
		m := gen.Next()
		if seen[m.MsgID] {
			continue
		}
		seen[m.MsgID] = true
		got, err := stream.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		require.Equal(t, m.MsgID, got.Header.Get(jetstream.MsgIDHeader), "message %d", seq)
		require.Equal(t, m.Data, got.Data, "message %d", seq)
		seq++
	}
	require.Equal(t, info.State.LastSeq, info.State.Msgs)

	var out bytes.Buffer
	err = runSimulate(t.Context(), append(common, "-seed", "8", "-count", "10"), env, &out, io.Discard)
	require.ErrorContains(t, err, `stream HELPDESK_EVENTS holds another simulated helpdesk, "contract=v2 seed=7 tickets-per-hour=600 duplicates=0.1 disorder=0.02 team=healthy"`)
	after, err := stream.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, info.State.Msgs, after.State.Msgs, "a refused run publishes nothing")
}

// lineWatch is an io.Writer that closes found once a line containing want
// was written.
type lineWatch struct {
	mu    sync.Mutex // guards buf and done
	buf   bytes.Buffer
	want  string
	found chan struct{}
	done  bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.found)
	}
	return len(p), nil
}

// TestSimulateBackfillThenLive follows the clock: the history of -backfill
// at once, then a line saying so, then live; started again, it publishes
// only what came due since.
func TestSimulateBackfillThenLive(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
	require.NoError(t, err)
	args := []string{"-nats-url", srv.ClientURL(), "-tickets-per-hour", "600", "-backfill", "2h"}
	run := func() string {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		w := &lineWatch{want: "simulate: backfill done: ", found: make(chan struct{})}
		errc := make(chan error, 1)
		go func() { errc <- runSimulate(ctx, args, func(string) string { return "" }, w, io.Discard) }()
		select {
		case <-w.found:
			cancel()
		case <-ctx.Done():
		}
		require.NoError(t, <-errc)
		w.mu.Lock()
		defer w.mu.Unlock()
		require.True(t, w.done, "no backfill line in %q", w.buf.String())
		return w.buf.String()
	}
	first := run()
	require.Regexp(t, `simulate: backfill done: [0-9]{4,} events up to \S+; now publishing live`, first)
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	second := run()
	require.Contains(t, second, "simulate: resuming: ")
	after, err := stream.Info(t.Context())
	require.NoError(t, err)
	// Only the events that came due between the runs: a few a second.
	require.Less(t, after.State.Msgs-info.State.Msgs, uint64(100), second)
}

func TestRateMeter(t *testing.T) {
	t0 := time.Unix(0, 0)
	m := rateMeter{samples: []rateSample{{t0, 0}}}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	require.InDelta(t, 20_000, m.rate(at(5), 100_000), 1e-9, "the backfill's rate")
	require.InDelta(t, 10_000, m.rate(at(10), 100_000), 1e-9, "over the last 10s")
	require.InDelta(t, 0.5, m.rate(at(15), 100_005), 1e-9, "the backfill is out of the window")
	require.InDelta(t, 1, m.rate(at(20), 100_010), 1e-9)
}
