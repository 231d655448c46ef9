package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// slaHarness runs the aggregator against embedded JetStream with a clock
// the test moves.
type slaHarness struct {
	t         *testing.T
	clock     atomic.Int64 // Unix ns
	agg       *aggregator
	js        jetstream.JetStream
	published int
}

// newSLAHarness starts the aggregator with its clock at start; edit
// changes its configuration further, as startAggregator's do.
func newSLAHarness(t *testing.T, start time.Time, edit ...func(*Config)) *slaHarness {
	h := &slaHarness{t: t}
	h.clock.Store(start.UnixNano())
	srv := natstest.Start(t)
	clock := func(c *Config) {
		c.now = func() time.Time { return time.Unix(0, h.clock.Load()) }
	}
	h.agg = startAggregator(t, srv.ClientURL(), start, append([]func(*Config){clock}, edit...)...)
	_, h.js = srv.Connect(t)
	waitStream(t, h.js)
	return h
}

// set moves the clock and has the engine publish a view at the new time.
// /metrics serves the published view, which the engine otherwise
// refreshes every tick; the JSON API asks for a fresh one, which the
// engine publishes, so a scrape after set sees the new time.
func (h *slaHarness) set(t time.Time) {
	h.t.Helper()
	h.clock.Store(t.UnixNano())
	resp, err := http.Get(h.agg.url + "/api/v1/kpis?window=1h")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
}

// publish sends events (id, type, ticket, time, extra JSON fields) and
// waits until the aggregator has taken all of them in.
func (h *slaHarness) publish(evs ...[]string) {
	h.t.Helper()
	var msgs []message
	for _, e := range evs {
		body := fmt.Sprintf(`{"id":%q,"type":%q,"ticket_id":%q,"occurred_at":%q%s}`, e[0], e[1], e[2], e[3], e[4])
		// No Nats-Msg-Id: redeliveries reach the aggregator, which must
		// drop them by event id.
		msgs = append(msgs, message{id: e[0], subject: "helpdesk.events." + e[1], body: []byte(body)})
	}
	publish(h.t, h.js, msgs, false)
	h.published += len(msgs)
	waitHandled(h.t, h.agg.url, h.published)
}

// sl and wsl are the labels of an SLA series broken down by priority
// alone: policy, channel and team "all".
func sl(sla, priority string) map[string]string {
	return map[string]string{"sla": sla, "priority": priority, "policy": "all", "channel": "all", "team": "all"}
}

func wsl(window, sla, priority string) map[string]string {
	return map[string]string{"window": window, "sla": sla, "priority": priority, "policy": "all", "channel": "all", "team": "all"}
}

// TestSLAEndToEnd walks the default targets (first reply: urgent 15m with
// a warning at 12m, high 1h; resolution: urgent 4h) through a morning
// whose clock the test moves, and checks the SLA series by hand.
func TestSLAEndToEnd(t *testing.T) {
	at := func(hm string) string { return "2026-11-23T" + hm + ":00Z" }
	clockAt := func(hm string) time.Time {
		tm, err := time.Parse(time.RFC3339, at(hm))
		require.NoError(t, err)
		return tm
	}
	h := newSLAHarness(t, clockAt("09:00"))
	h.publish(
		[]string{"u1", "ticket.opened", "U1", at("08:50"), `,"priority":"urgent","channel":"chat","team":"billing"`}, // due 09:05
		[]string{"u2", "ticket.opened", "U2", at("08:50"), `,"priority":"urgent"`},
		[]string{"u2r", "ticket.first_reply", "U2", at("08:58"), ``},               // in time
		[]string{"u3", "ticket.opened", "U3", at("08:55"), `,"priority":"urgent"`}, // due 09:10
		[]string{"h1", "ticket.opened", "H1", at("08:30"), `,"priority":"high"`},   // due 09:30
		[]string{"n1", "ticket.opened", "N1", at("07:00"), `,"priority":"normal"`}, // due 11:00
		[]string{"n1r", "ticket.first_reply", "N1", at("09:00"), ``},
		[]string{"l1", "ticket.opened", "L1", at("06:00"), `,"priority":"low"`}, // due 14:00
	)
	m := scrape(t, h.agg.url)
	require.Equal(t, 0.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "urgent"))])
	require.Equal(t, 300.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "urgent"))])
	require.Equal(t, 1800.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "high"))])
	require.Equal(t, 18000.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "low"))])
	require.Equal(t, 300.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "all"))])
	require.NotContains(t, m, key("helpdesk_sla_next_breach_seconds", sl("first_reply", "normal")))
	require.Equal(t, 1.0, m[key("helpdesk_sla_achieved", wsl("1h", "first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_achieved", wsl("1h", "first_reply", "normal"))])
	require.Equal(t, 2.0, m[key("helpdesk_sla_achieved", wsl("1h", "first_reply", "all"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_compliance_ratio", wsl("1h", "first_reply", "all"))])
	require.NotContains(t, m, key("helpdesk_sla_compliance_ratio", wsl("1h", "first_reply", "high")))
	// Resolution clocks: urgent 4h from 08:50 is 12:50; 4h from 08:55 is 12:55.
	require.Equal(t, float64(3*3600+50*60), m[key("helpdesk_sla_next_breach_seconds", sl("resolution", "urgent"))])

	// 09:03: U1 passed its warning (09:02), U3 not yet (09:07).
	h.set(clockAt("09:03"))
	m = scrape(t, h.agg.url)
	require.Equal(t, 1.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "all"))])
	require.Equal(t, 120.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "urgent"))])

	// 09:06: U1's deadline passed with no event at all: breached at 09:05.
	h.set(clockAt("09:06"))
	m = scrape(t, h.agg.url)
	require.Equal(t, 0.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached_open_tickets", sl("first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "urgent"))])
	require.Equal(t, 0.5, m[key("helpdesk_sla_compliance_ratio", wsl("1h", "first_reply", "urgent"))])
	require.Equal(t, 240.0, m[key("helpdesk_sla_next_breach_seconds", sl("first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_outcomes_total", map[string]string{"sla": "first_reply", "priority": "urgent", "policy": "all", "team": "all", "outcome": "breached"})])

	// The at-risk API lists U1 in breach.
	list := atRiskList(t, h.agg.url, 10)
	require.Len(t, list, 1)
	require.Equal(t, "U1", list[0].TicketID)
	require.Equal(t, "breached", list[0].Status)
	require.Equal(t, "chat", list[0].Channel)
	require.Equal(t, "billing", list[0].Team)
	require.Equal(t, -60.0, list[0].SecondsLeft)

	// U1 replies late, delivered twice and after an unrelated event: the
	// breach stays one breach; U1 leaves the open breaches.
	h.set(clockAt("09:08"))
	h.publish(
		[]string{"u1r", "ticket.first_reply", "U1", at("09:07"), ``},
		[]string{"n1x", "ticket.resolved", "N1", at("09:07"), `,"replies":1`},
		[]string{"u1r", "ticket.first_reply", "U1", at("09:07"), ``},
	)
	m = scrape(t, h.agg.url)
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "urgent"))])
	require.Equal(t, 0.0, m[key("helpdesk_sla_breached_open_tickets", sl("first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "urgent"))]) // U3, warned at 09:07
	require.Equal(t, 1.0, m[`helpdesk_events_duplicate_total{}`])

	// 09:12: U3's deadline (09:10) passed, so it is breached …
	h.set(clockAt("09:12"))
	m = scrape(t, h.agg.url)
	require.Equal(t, 2.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "urgent"))])
	// … until its reply, sent at 09:09, arrives late: it met the target.
	h.publish([]string{"u3r", "ticket.first_reply", "U3", at("09:09"), ``})
	m = scrape(t, h.agg.url)
	require.Equal(t, 2.0, m[key("helpdesk_sla_achieved", wsl("1h", "first_reply", "urgent"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "urgent"))])
	require.InDelta(t, 2.0/3, m[key("helpdesk_sla_compliance_ratio", wsl("1h", "first_reply", "urgent"))], 1e-12)
	// The counters never fall: U3's breach, counted at 09:10, stays
	// counted (U1 and U3: 2), its achievement is added (U2 and U3: 2), and
	// the breach taken back is counted as a correction (1), so that
	// outcomes minus corrections are the exact 2 achieved, 1 breached.
	outcome := func(name, o string) float64 {
		return m[key(name, map[string]string{"sla": "first_reply", "priority": "urgent", "policy": "all", "team": "all", "outcome": o})]
	}
	require.Equal(t, map[string]float64{"achieved": 2, "breached": 2, "corrected achieved": 0, "corrected breached": 1}, map[string]float64{
		"achieved":           outcome("helpdesk_sla_outcomes_total", "achieved"),
		"breached":           outcome("helpdesk_sla_outcomes_total", "breached"),
		"corrected achieved": outcome("helpdesk_sla_outcome_corrections_total", "achieved"),
		"corrected breached": outcome("helpdesk_sla_outcome_corrections_total", "breached"),
	})
	// N1 resolved at 09:07, 2h07 after opening: resolution achieved.
	require.Equal(t, 1.0, m[key("helpdesk_sla_achieved", wsl("1h", "resolution", "normal"))])

	// 09:31: H1 (high, due 09:30) breached; its warning came at 09:18.
	h.set(clockAt("09:31"))
	m = scrape(t, h.agg.url)
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached_open_tickets", sl("first_reply", "high"))])
	require.Equal(t, 1.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "high"))])
	require.Equal(t, 0.0, m[key("helpdesk_sla_at_risk_tickets", sl("first_reply", "all"))])
	// Overall first reply in the last hour (panes from 08:32): achieved U2
	// (08:58), N1 (09:00), U3 (09:09); breached U1 (09:05), H1 (09:30).
	require.Equal(t, 3.0, m[key("helpdesk_sla_achieved", wsl("1h", "first_reply", "all"))])
	require.Equal(t, 2.0, m[key("helpdesk_sla_breached", wsl("1h", "first_reply", "all"))])
	require.InDelta(t, 0.6, m[key("helpdesk_sla_compliance_ratio", wsl("1h", "first_reply", "all"))], 1e-12)
}

type atRiskEntry struct {
	TicketID    string  `json:"ticket_id"`
	SLA         string  `json:"sla"`
	Priority    string  `json:"priority"`
	Channel     string  `json:"channel"`
	Team        string  `json:"team"`
	Status      string  `json:"status"`
	SecondsLeft float64 `json:"seconds_left"`
}

func atRiskList(t *testing.T, baseURL string, limit int) []atRiskEntry {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/sla/at-risk?limit=%d", baseURL, limit))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Tickets []atRiskEntry `json:"tickets"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Tickets
}
