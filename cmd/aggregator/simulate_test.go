package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// TestSimulateContractVersion publishes with `aggregator simulate` and
// checks the event types that reach the stream: v2 by default, v1 with -v1
// or AGGREGATOR_V1.
func TestSimulateContractVersion(t *testing.T) {
	v2Types := []string{"ticket.replied", "ticket.customer_message", "ticket.status_changed", "ticket.updated"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		v1   bool
	}{
		{"default", nil, nil, false},
		{"flag", []string{"-v1"}, nil, true},
		{"environment", nil, map[string]string{"AGGREGATOR_V1": "true"}, true},
		{"flag false", []string{"-v1=false"}, map[string]string{"AGGREGATOR_V1": "true"}, false},
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
			want := "contract v2"
			if tt.v1 {
				want = "contract v1"
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
}
