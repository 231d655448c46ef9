package httpapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// goldenSource returns a source over a state that has every kind of
// KPI in some cell and none in others: counts, ratios and averages,
// quantiles, and a team whose name JSON must escape.
func goldenSource(t *testing.T) *source {
	t.Helper()
	cfg := kpi.DefaultConfig()
	cfg.Channels = []string{"email", "chat"}
	cfg.MaxTeams = 3
	state, err := kpi.New(cfg, testNow.UnixNano())
	require.NoError(t, err)
	ago := func(d time.Duration) int64 { return testNow.Add(-d).UnixNano() }
	ev := func(id string, typ events.Type, ticket string, d time.Duration, edit func(*events.Event)) {
		e := &events.Event{ID: []byte(id), Type: typ, TicketID: []byte(ticket), OccurredAt: ago(d), Replies: -1, HandleMillis: -1}
		if edit != nil {
			edit(e)
		}
		state.Apply(e)
	}
	ev("o1", events.TicketOpened, "T1", 50*time.Minute, func(e *events.Event) { e.Channel, e.Team = []byte("email"), []byte("R&D <ops>") })
	ev("r1", events.TicketFirstReply, "T1", 45*time.Minute, nil)
	ev("x1", events.TicketResolved, "T1", 30*time.Minute, func(e *events.Event) { e.Replies, e.HandleMillis = 1, 90_000 })
	ev("p1", events.TicketReopened, "T1", 20*time.Minute, nil)
	ev("o2", events.TicketOpened, "T2", 40*time.Minute, func(e *events.Event) {
		e.Channel, e.Team, e.Priority = []byte("chat"), []byte("billing"), events.PriorityUrgent
	})
	ev("r2", events.TicketFirstReply, "T2", 37*time.Minute, nil)
	ev("x2", events.TicketResolved, "T2", 10*time.Minute, func(e *events.Event) { e.Replies = 3 })
	ev("o3", events.TicketOpened, "T3", 5*time.Hour, func(e *events.Event) { e.Channel = []byte("fax") })
	ev("s1", events.SurveyAnswered, "T1", 25*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCSAT, 5 })
	ev("s2", events.SurveyAnswered, "T2", 5*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCSAT, 2 })
	ev("s3", events.SurveyAnswered, "T2", 4*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyNPS, 9 })
	ev("s4", events.SurveyAnswered, "", 3*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyNPS, 3 })
	ev("s5", events.SurveyAnswered, "T3", 2*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCES, 6 })
	view := state.View(testNow.UnixNano())
	view.CaughtUp = true
	src := &source{ready: true}
	src.snap.Store(view)
	return src
}

// TestKPIsGolden pins the bytes of /api/v1/kpis for every window of a
// populated state: keys, their order, omissions and number formats. Run
// with UPDATE_GOLDEN=1 to rewrite the files after an intended change.
func TestKPIsGolden(t *testing.T) {
	h := Handler(goldenSource(t), prometheus.NewRegistry(), Options{})
	for _, window := range []string{"15m", "1h", "24h"} {
		t.Run(window, func(t *testing.T) {
			rec := get(h, "/api/v1/kpis?window="+window, "")
			require.Equal(t, 200, rec.Code, rec.Body.String())
			file := filepath.Join("testdata", "kpis_"+window+".json")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, os.WriteFile(file, rec.Body.Bytes(), 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, string(want), rec.Body.String())
		})
	}
}

// TestKPIsSLA: the SLA numbers of /api/v1/kpis, worked out by hand for
// the golden state (default targets; now 12:00). First reply: T1 (normal,
// 4h) answered at 11:15 and T2 (urgent, 15m) at 11:23, both achieved in
// the hour; T3 (normal, opened 07:00) unanswered, breached at 11:00 and
// open. Resolution: T1 (normal, 24h) resolved at 11:30 and T2 (urgent,
// 4h) at 11:50, achieved; T1 reopened at 11:40 (due 11:40 tomorrow), T3
// due 07:00 tomorrow: the next breach in 19h.
func TestKPIsSLA(t *testing.T) {
	h := Handler(goldenSource(t), prometheus.NewRegistry(), Options{})
	rec := get(h, "/api/v1/kpis?window=1h", "")
	require.Equal(t, 200, rec.Code)
	var resp struct {
		SLA []map[string]any `json:"sla"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	overall := map[string]map[string]any{}
	for _, s := range resp.SLA {
		if s["policy"] == "all" && s["priority"] == "all" && s["channel"] == "all" && s["team"] == "all" {
			overall[s["sla"].(string)] = s
		}
	}
	fr, res := overall["first_reply"], overall["resolution"]
	require.Equal(t, 2.0, fr["achieved"])
	require.Equal(t, 1.0, fr["compliance_ratio"])
	require.Equal(t, 1.0, fr["breached_open_tickets"])
	require.NotContains(t, fr, "next_breach_seconds")
	require.Equal(t, 2.0, res["achieved"])
	require.Equal(t, 0.0, res["breached_open_tickets"])
	require.Equal(t, float64(19*3600), res["next_breach_seconds"])
	require.Equal(t, 0.0, overall["next_reply"]["achieved"])
	require.NotContains(t, overall["next_reply"], "compliance_ratio")
}
