package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// TestExpositionGolden pins the whole text exposition of a populated
// state, every family and series, byte for byte. Run with UPDATE_GOLDEN=1
// to rewrite the file after an intended change.
func TestExpositionGolden(t *testing.T) {
	cfg := kpi.DefaultConfig()
	cfg.Windows = []kpi.Window{{Name: "15m", Width: 15 * time.Minute}, {Name: "1h", Width: time.Hour}}
	cfg.Channels = []string{"email", "chat"}
	cfg.MaxTeams = 2
	s := newState(t, cfg)
	edit := func(channel, team string, p events.Priority) func(*events.Event) {
		return func(e *events.Event) { e.Channel, e.Team, e.Priority = []byte(channel), []byte(team), p }
	}
	for _, e := range []*events.Event{
		event("o1", "ticket.opened", "T1", 10*time.Minute, edit("email", "billing", events.PriorityHigh)),
		event("r1", "ticket.first_reply", "T1", 15*time.Minute, nil),
		event("x1", "ticket.resolved", "T1", 30*time.Minute, func(e *events.Event) { e.Replies, e.HandleMillis = 1, 120_000 }),
		event("p1", "ticket.reopened", "T1", 50*time.Minute, nil),
		event("o2", "ticket.opened", "T2", 20*time.Minute, edit("chat", "support", events.PriorityUrgent)),
		event("x2", "ticket.resolved", "T2", 52*time.Minute, func(e *events.Event) { e.Replies = 2 }),
		event("o3", "ticket.opened", "T3", 40*time.Minute, edit("fax", "sales", events.PriorityLow)),
		event("s1", "survey.answered", "T1", 55*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCSAT, 4 }),
		event("s2", "survey.answered", "T2", 56*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyNPS, 10 }),
		event("s3", "survey.answered", "", 57*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCES, 3 }),
	} {
		s.Apply(e)
	}
	s.Reject(events.ReasonInvalidJSON)
	snap := s.View(t0.Add(time.Hour).UnixNano())
	snap.CaughtUp = true
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() *kpi.View { return snap }))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var got bytes.Buffer
	enc := expfmt.NewEncoder(&got, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		require.NoError(t, enc.Encode(mf))
	}
	file := filepath.Join("testdata", "exposition.txt")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(file, got.Bytes(), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(want), got.String())
}
