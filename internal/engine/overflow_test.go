package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// TestLabelOverflowLoggedOnce: values counted as other are logged the
// first time per label, however many follow.
func TestLabelOverflowLoggedOnce(t *testing.T) {
	cfg := kpi.DefaultConfig()
	cfg.Channels = []string{"email"}
	cfg.MaxTeams = 1
	state, err := kpi.New(cfg, now.UnixNano())
	require.NoError(t, err)
	var logs bytes.Buffer // written by the loop only; read once it stopped
	e := New(state, func() time.Time { return now }, Config{PublishEvery: time.Hour}, zerolog.New(&logs))
	in := make(chan *events.Batch)
	done := make(chan struct{})
	go func() { e.Run(in); close(done) }()

	withLabels := func(id, channel, team string) events.Event {
		ev := opened(id)
		ev.Channel, ev.Team = []byte(channel), []byte(team)
		return ev
	}
	stored := now.Add(-20 * time.Minute).UnixNano()
	batches := []struct {
		events   []events.Event
		overflow [2]int64 // by kpi.OverflowChannel, kpi.OverflowTeam, after the batch
	}{
		{[]events.Event{withLabels("a", "email", "a")}, [2]int64{}},
		{[]events.Event{withLabels("b", "email", "b"), withLabels("c", "email", "c")}, [2]int64{kpi.OverflowTeam: 2}},
		{[]events.Event{withLabels("d", "fax", "d"), withLabels("e", "sms", "a")}, [2]int64{kpi.OverflowChannel: 2, kpi.OverflowTeam: 3}},
		{[]events.Event{withLabels("f", "fax", "f")}, [2]int64{kpi.OverflowChannel: 3, kpi.OverflowTeam: 4}},
	}
	seq := uint64(0)
	for _, b := range batches {
		seq += uint64(len(b.events))
		st := make([]int64, len(b.events))
		for i := range st {
			st[i] = stored
		}
		// The loop has applied a batch it received before it answers
		// the next Fresh.
		in <- &events.Batch{Events: b.events, Stored: st, LastSeq: seq}
		require.Equal(t, b.overflow, e.Fresh(context.Background()).LabelOverflow)
	}
	close(in)
	<-done

	logged := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if msg, _ := m["message"].(string); strings.Contains(msg, "helpdesk_label_overflow_total") {
			require.Equal(t, "warn", m["level"])
			logged[m["label"].(string)]++
		}
	}
	require.Equal(t, map[string]int{"channel": 1, "team": 1}, logged)
	require.Contains(t, logs.String(), "raise max_teams")
}
