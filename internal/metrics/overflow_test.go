package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// TestLabelOverflowExposition: with 2 teams admitted and channel email
// allowed, openings of 5 teams on 3 channels expose how many became other,
// once the state has caught up (it is a cumulative series).
func TestLabelOverflowExposition(t *testing.T) {
	cfg := kpi.DefaultConfig()
	cfg.Channels = []string{"email"}
	cfg.MaxTeams = 2
	s := newState(t, cfg)
	openings := []struct{ channel, team string }{
		{"email", "a"}, {"email", "b"}, // admitted
		{"chat", "c"},  // both replaced
		{"email", "d"}, // team replaced
		{"phone", "e"}, // both replaced
		{"email", "a"}, // admitted
		{"", ""},       // unknown, not other
	}
	for i, o := range openings {
		id := string(rune('A' + i))
		s.Apply(event(id, "ticket.opened", id, 10*time.Minute, func(e *events.Event) { e.Channel, e.Team = []byte(o.channel), []byte(o.team) }))
	}
	const want = `
# HELP helpdesk_label_overflow_total Ticket openings whose channel or team was counted as other: a channel outside the channels list, a team outside the teams list or beyond max_teams.
# TYPE helpdesk_label_overflow_total counter
helpdesk_label_overflow_total{label="channel"} 2
helpdesk_label_overflow_total{label="team"} 3
`
	cases := []struct {
		name     string
		caughtUp bool
		want     string
	}{
		{"catching up: not exposed", false, ""},
		{"caught up", true, want},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := s.View(t0.Add(time.Hour).UnixNano())
			snap.CaughtUp = tc.caughtUp
			reg := prometheus.NewRegistry()
			reg.MustRegister(NewCollector(func() *kpi.View { return snap }))
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(tc.want), "helpdesk_label_overflow_total"))
		})
	}
}
