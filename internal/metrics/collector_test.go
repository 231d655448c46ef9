package metrics

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func newState(t testing.TB, cfg kpi.Config) *kpi.State {
	t.Helper()
	s, err := kpi.New(cfg, t0.Add(time.Hour).UnixNano())
	require.NoError(t, err)
	return s
}

func event(id, typ string, ticket string, at time.Duration, f func(*events.Event)) *events.Event {
	e := &events.Event{ID: []byte(id), TicketID: []byte(ticket), OccurredAt: t0.Add(at).UnixNano(), Replies: -1, HandleMillis: -1}
	for t := events.TicketOpened; int(t) < events.NumTypes; t++ {
		if t.String() == typ {
			e.Type = t
		}
	}
	if f != nil {
		f(e)
	}
	return e
}

// TestCollectorExposition checks the exposition of one small state, series
// by series, for a window and cell chosen for each metric family.
func TestCollectorExposition(t *testing.T) {
	cfg := kpi.DefaultConfig()
	cfg.Windows = []kpi.Window{{Name: "1h", Width: time.Hour}}
	cfg.Quantiles = []float64{0.5}
	cfg.Channels = []string{"email"}
	cfg.Teams = []string{"billing"}
	s := newState(t, cfg)
	s.Apply(event("a", "ticket.opened", "T1", 10*time.Minute, func(e *events.Event) { e.Channel, e.Team = []byte("email"), []byte("billing") }))
	s.Apply(event("b", "ticket.first_reply", "T1", 20*time.Minute, nil))
	s.Apply(event("c", "ticket.resolved", "T1", 40*time.Minute, func(e *events.Event) { e.Replies = 1 }))
	s.Apply(event("d", "survey.answered", "T1", 50*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyCSAT, 4 }))
	snap := s.View(t0.Add(time.Hour).UnixNano())
	snap.CaughtUp = true
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() *kpi.View { return snap }))

	// Hand-written: one ticket, replied after 10 min, resolved after 30
	// min with one reply, one satisfied CSAT answer; p50 of one sample is
	// that sample, reported within 1% (600 s is bin value 599.6…).
	want := `
# HELP helpdesk_tickets_opened Tickets opened in the window.
# TYPE helpdesk_tickets_opened gauge
helpdesk_tickets_opened{channel="all",priority="all",team="all",window="1h"} 1
helpdesk_tickets_opened{channel="all",priority="all",team="billing",window="1h"} 1
helpdesk_tickets_opened{channel="all",priority="all",team="other",window="1h"} 0
helpdesk_tickets_opened{channel="all",priority="all",team="unknown",window="1h"} 0
helpdesk_tickets_opened{channel="all",priority="high",team="all",window="1h"} 0
helpdesk_tickets_opened{channel="all",priority="low",team="all",window="1h"} 0
helpdesk_tickets_opened{channel="all",priority="normal",team="all",window="1h"} 1
helpdesk_tickets_opened{channel="all",priority="unknown",team="all",window="1h"} 0
helpdesk_tickets_opened{channel="all",priority="urgent",team="all",window="1h"} 0
helpdesk_tickets_opened{channel="email",priority="all",team="all",window="1h"} 1
helpdesk_tickets_opened{channel="other",priority="all",team="all",window="1h"} 0
helpdesk_tickets_opened{channel="unknown",priority="all",team="all",window="1h"} 0
# HELP helpdesk_fcr_ratio First contact resolution: resolutions with exactly one reply over resolutions reporting replies.
# TYPE helpdesk_fcr_ratio gauge
helpdesk_fcr_ratio{channel="all",priority="all",team="all",window="1h"} 1
helpdesk_fcr_ratio{channel="all",priority="all",team="billing",window="1h"} 1
helpdesk_fcr_ratio{channel="all",priority="normal",team="all",window="1h"} 1
helpdesk_fcr_ratio{channel="email",priority="all",team="all",window="1h"} 1
# HELP helpdesk_open_tickets Tickets opened and not resolved (a reopened ticket is open again).
# TYPE helpdesk_open_tickets gauge
helpdesk_open_tickets{channel="all",priority="all",team="all"} 0
helpdesk_open_tickets{channel="all",priority="all",team="billing"} 0
helpdesk_open_tickets{channel="all",priority="all",team="other"} 0
helpdesk_open_tickets{channel="all",priority="all",team="unknown"} 0
helpdesk_open_tickets{channel="all",priority="high",team="all"} 0
helpdesk_open_tickets{channel="all",priority="low",team="all"} 0
helpdesk_open_tickets{channel="all",priority="normal",team="all"} 0
helpdesk_open_tickets{channel="all",priority="unknown",team="all"} 0
helpdesk_open_tickets{channel="all",priority="urgent",team="all"} 0
helpdesk_open_tickets{channel="email",priority="all",team="all"} 0
helpdesk_open_tickets{channel="other",priority="all",team="all"} 0
helpdesk_open_tickets{channel="unknown",priority="all",team="all"} 0
# HELP helpdesk_tickets_opened_total Tickets opened, by event time, since the stream began.
# TYPE helpdesk_tickets_opened_total counter
helpdesk_tickets_opened_total{channel="email",priority="normal",team="billing"} 1
# HELP helpdesk_survey_responses_total Survey answers since the stream began, by kind and score.
# TYPE helpdesk_survey_responses_total counter
helpdesk_survey_responses_total{kind="csat",score="4"} 1
# HELP helpdesk_events_total Events applied, by type.
# TYPE helpdesk_events_total counter
helpdesk_events_total{type="survey.answered"} 1
helpdesk_events_total{type="ticket.customer_message"} 0
helpdesk_events_total{type="ticket.first_reply"} 1
helpdesk_events_total{type="ticket.opened"} 1
helpdesk_events_total{type="ticket.reopened"} 0
helpdesk_events_total{type="ticket.replied"} 0
helpdesk_events_total{type="ticket.resolved"} 1
helpdesk_events_total{type="ticket.status_changed"} 0
helpdesk_events_total{type="ticket.updated"} 0
# HELP helpdesk_last_event_timestamp_seconds occurred_at of the newest applied event.
# TYPE helpdesk_last_event_timestamp_seconds gauge
helpdesk_last_event_timestamp_seconds ` + fmt.Sprint(t0.Add(50*time.Minute).Unix()) + `
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"helpdesk_tickets_opened", "helpdesk_fcr_ratio", "helpdesk_open_tickets",
		"helpdesk_tickets_opened_total", "helpdesk_survey_responses_total",
		"helpdesk_events_total", "helpdesk_last_event_timestamp_seconds"))

	// The quantile of the single 600 s sample, within 1%.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "helpdesk_first_reply_time_seconds" {
			continue
		}
		require.Len(t, mf.GetMetric(), 4) // overall, email, normal, billing
		for _, m := range mf.GetMetric() {
			require.InEpsilon(t, 600, m.GetGauge().GetValue(), 0.01)
		}
	}
	// The cumulative histogram carries classic and native buckets. 600 s
	// lies in native bucket ceil(8·log2 600) = ceil(73.83) = 74 of schema
	// 3, and in the classic buckets from 15m (900 s) up.
	for _, mf := range mfs {
		if mf.GetName() != "helpdesk_first_reply_duration_seconds" {
			continue
		}
		require.Len(t, mf.GetMetric(), 1)
		h := mf.GetMetric()[0].GetHistogram()
		require.Equal(t, uint64(1), h.GetSampleCount())
		require.Equal(t, 600.0, h.GetSampleSum())
		require.Equal(t, int32(3), h.GetSchema())
		require.Len(t, h.GetPositiveSpan(), 1)
		require.Equal(t, int32(74), h.GetPositiveSpan()[0].GetOffset())
		require.Equal(t, uint32(1), h.GetPositiveSpan()[0].GetLength())
		require.Equal(t, []int64{1}, h.GetPositiveDelta())
		var cum []uint64
		for _, b := range h.GetBucket() {
			cum = append(cum, b.GetCumulativeCount())
		}
		// 1m 5m 15m 30m 1h 2h 4h 8h 12h 24h 48h 72h 7d
		require.Equal(t, []uint64{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, cum)
	}
	// Ratios without samples are omitted; counts are 0.
	require.Equal(t, 0, testutil.CollectAndCount(NewCollector(func() *kpi.View {
		return newState(t, cfg).View(t0.Add(time.Hour).UnixNano())
	}), "helpdesk_csat_ratio", "helpdesk_first_reply_time_seconds", "helpdesk_last_event_timestamp_seconds"))
}

// TestCumulativeSeriesWaitForCatchUp: until the state has caught up with
// the stream, no counter or histogram kept in the state is exposed (a
// restored state may hold less than an earlier process served); the
// gauges are.
func TestCumulativeSeriesWaitForCatchUp(t *testing.T) {
	cfg := kpi.DefaultConfig()
	s := newState(t, cfg)
	s.Apply(event("a", "ticket.opened", "T1", 10*time.Minute, nil))
	s.Apply(event("b", "ticket.first_reply", "T1", 20*time.Minute, nil))
	snap := s.View(t0.Add(time.Hour).UnixNano())
	cumulative := []string{
		"helpdesk_events_total", "helpdesk_events_rejected_total", "helpdesk_events_duplicate_total",
		"helpdesk_events_late_total", "helpdesk_events_orphaned_total", "helpdesk_events_expired_total",
		"helpdesk_evicted_total", "helpdesk_tickets_opened_total", "helpdesk_first_reply_duration_seconds",
		"helpdesk_sla_outcomes_total", "helpdesk_sla_outcome_corrections_total", "helpdesk_corrections_total",
	}
	c := NewCollector(func() *kpi.View { return snap })
	require.Equal(t, 0, testutil.CollectAndCount(c, cumulative...))
	require.Equal(t, 1, testutil.CollectAndCount(c, "helpdesk_tracked_tickets"))

	snap.CaughtUp = true
	// Once caught up: 9 types + 7 reasons + duplicate, late, orphaned,
	// expired + 3 eviction reasons + one ticket combination + one
	// first reply histogram + 3 SLAs × 8 outcome cells (overall, 4
	// priorities, teams unknown and other, the default policy) × 2
	// outcomes, twice (outcomes and their corrections) + 7 corrected
	// series.
	require.Equal(t, 9+len(events.Reasons())+4+3+1+1+3*8*2*2+7, testutil.CollectAndCount(c, cumulative...))
}

// BenchmarkRender renders /metrics for the default windows and quantiles
// with 5 channels × 4 priorities × 10 teams, every series populated.
func BenchmarkRender(b *testing.B) {
	cfg := kpi.DefaultConfig()
	cfg.Teams = []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}
	s := newState(b, cfg)
	pris := []events.Priority{events.PriorityLow, events.PriorityNormal, events.PriorityHigh, events.PriorityUrgent}
	n := 0
	for _, ch := range cfg.Channels {
		for _, p := range pris {
			for _, tm := range cfg.Teams {
				n++
				id := fmt.Sprintf("T%d", n)
				at := time.Duration(n) * 10 * time.Second
				s.Apply(event(id+"o", "ticket.opened", id, at, func(e *events.Event) { e.Channel, e.Team, e.Priority = []byte(ch), []byte(tm), p }))
				s.Apply(event(id+"r", "ticket.first_reply", id, at+time.Minute, nil))
				s.Apply(event(id+"x", "ticket.resolved", id, at+5*time.Minute, func(e *events.Event) { e.Replies, e.HandleMillis = 1, 60_000 }))
				s.Apply(event(id+"s", "survey.answered", id, at+6*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyNPS, 9 }))
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() *kpi.View {
		snap := s.View(t0.Add(time.Hour).UnixNano())
		snap.CaughtUp = true
		return snap
	}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	var series int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		series = strings.Count(rec.Body.String(), "\nhelpdesk_")
	}
	b.ReportMetric(float64(series), "series")
}

// TestAgentSeries: the per-agent series are off by default; with
// max_agents, an urgent ticket answered by a-1 after 10 minutes and
// resolved by a-1 after 20 shows under agent a-1, and the labels unknown
// and other are exported as 0.
func TestAgentSeries(t *testing.T) {
	agentNames := []string{"helpdesk_agent_first_replies", "helpdesk_agent_first_reply_time_avg_seconds", "helpdesk_agent_resolved",
		"helpdesk_agent_csat_responses", "helpdesk_agent_csat_ratio", "helpdesk_agent_sla_achieved", "helpdesk_agent_sla_breached",
		"helpdesk_agent_sla_compliance_ratio"}
	off := newState(t, kpi.DefaultConfig())
	require.Equal(t, 0, testutil.CollectAndCount(NewCollector(func() *kpi.View { return off.View(t0.Add(time.Hour).UnixNano()) }), agentNames...))

	cfg := kpi.DefaultConfig()
	cfg.MaxAgents = 5
	s := newState(t, cfg)
	agent := func(e *events.Event) { e.AgentID = []byte("a-1") }
	s.Apply(event("o", "ticket.opened", "T", 10*time.Minute, func(e *events.Event) { e.Priority = events.PriorityUrgent }))
	s.Apply(event("r", "ticket.replied", "T", 20*time.Minute, agent))
	s.Apply(event("x", "ticket.resolved", "T", 30*time.Minute, agent))
	c := NewCollector(func() *kpi.View { return s.View(t0.Add(time.Hour).UnixNano()) })
	want := `
# HELP helpdesk_agent_first_reply_time_avg_seconds Mean first reply time of the agent's first replies in the window (per-agent series, opt-in).
# TYPE helpdesk_agent_first_reply_time_avg_seconds gauge
helpdesk_agent_first_reply_time_avg_seconds{agent="a-1",window="1h"} 600
helpdesk_agent_first_reply_time_avg_seconds{agent="a-1",window="24h"} 600
helpdesk_agent_first_reply_time_avg_seconds{agent="a-1",window="7d"} 600
# HELP helpdesk_agent_sla_compliance_ratio Of the SLA clocks the agent met, the share met by the deadline.
# TYPE helpdesk_agent_sla_compliance_ratio gauge
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="first_reply",window="1h"} 1
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="first_reply",window="24h"} 1
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="first_reply",window="7d"} 1
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="resolution",window="1h"} 1
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="resolution",window="24h"} 1
helpdesk_agent_sla_compliance_ratio{agent="a-1",sla="resolution",window="7d"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"helpdesk_agent_first_reply_time_avg_seconds", "helpdesk_agent_sla_compliance_ratio"))
	// 4 windows × 3 agents (unknown, other, a-1): counts always exported.
	require.Equal(t, 4*3, testutil.CollectAndCount(c, "helpdesk_agent_resolved"))
	require.Equal(t, 4*3*3, testutil.CollectAndCount(c, "helpdesk_agent_sla_achieved"))
}
