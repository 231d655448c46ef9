package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// The integration test publishes a scripted helpdesk day to a real
// JetStream, runs the whole aggregator against it with a fixed clock, and
// checks /metrics against KPIs computed here, from the script alone.

var testNow = time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)

type scriptedResolution struct {
	at      time.Time
	replies int // -1: absent
	handle  float64
	hasHdl  bool
}

type scriptedTicket struct {
	id, channel, priority, team string
	opened                      time.Time
	reply                       *time.Time
	resolutions                 []scriptedResolution
	reopens                     []time.Time
	survey                      *scriptedSurvey
}

type scriptedSurvey struct {
	at    time.Time
	kind  string
	score int
}

// message is one event as published.
type message struct {
	id      string
	subject string
	body    []byte
	at      time.Time
}

// script builds n tickets opened over the 22 hours before testNow, with
// channel, priority and team label values (including one channel outside
// the allow-list), and every lifecycle step at millisecond precision.
func script(rng *rand.Rand, n int) []*scriptedTicket {
	channels := []string{"email", "chat", "phone", "web", "fax"} // fax is not allow-listed
	priorities := []string{"low", "normal", "high", "urgent"}
	teams := []string{"billing", "tech", "sales"}
	limit := testNow.Add(-30 * time.Second)
	var tickets []*scriptedTicket
	ms := func(d float64) time.Duration { return time.Duration(d) * time.Millisecond }
	for i := range n {
		tk := &scriptedTicket{
			id:       fmt.Sprintf("T-%d", i),
			channel:  channels[rng.IntN(len(channels))],
			priority: priorities[rng.IntN(len(priorities))],
			team:     teams[rng.IntN(len(teams))],
			opened:   testNow.Add(-ms(rng.Float64() * 22 * 3600e3)).Truncate(time.Millisecond),
		}
		tickets = append(tickets, tk)
		if rng.Float64() < 0.85 {
			r := tk.opened.Add(ms(rng.ExpFloat64() * 20 * 60e3))
			if r.Before(limit) {
				tk.reply = &r
			}
		}
		last := tk.opened
		if tk.reply != nil {
			last = *tk.reply
		}
		for round := 0; round < 2 && rng.Float64() < 0.7; round++ {
			res := scriptedResolution{at: last.Add(ms(rng.ExpFloat64() * 90 * 60e3)), replies: -1}
			if !res.at.Before(limit) {
				break
			}
			if rng.Float64() < 0.8 {
				res.replies = rng.IntN(3)
			}
			if rng.Float64() < 0.6 {
				res.handle, res.hasHdl = math.Round(rng.Float64()*3600*1000)/1000, true
			}
			tk.resolutions = append(tk.resolutions, res)
			last = res.at
			if rng.Float64() < 0.2 {
				re := last.Add(ms(rng.ExpFloat64() * 30 * 60e3))
				if !re.Before(limit) {
					break
				}
				tk.reopens = append(tk.reopens, re)
				last = re
				continue
			}
			break
		}
		if len(tk.resolutions) > 0 && rng.Float64() < 0.5 {
			s := &scriptedSurvey{at: last.Add(ms(rng.Float64() * 20 * 60e3))}
			switch rng.IntN(3) {
			case 0:
				s.kind, s.score = "csat", 1+rng.IntN(5)
			case 1:
				s.kind, s.score = "nps", rng.IntN(11)
			default:
				s.kind, s.score = "ces", 1+rng.IntN(7)
			}
			if s.at.Before(limit) {
				tk.survey = s
			}
		}
	}
	return tickets
}

func (tk *scriptedTicket) messages() []message {
	var out []message
	n := 0
	add := func(typ string, at time.Time, extra map[string]any) {
		n++
		e := map[string]any{"id": fmt.Sprintf("%s-e%d", tk.id, n), "type": typ, "ticket_id": tk.id, "occurred_at": at.Format(time.RFC3339Nano)}
		for k, v := range extra {
			e[k] = v
		}
		body, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		out = append(out, message{id: e["id"].(string), subject: "helpdesk.events." + typ, body: body, at: at})
	}
	add("ticket.opened", tk.opened, map[string]any{"channel": tk.channel, "priority": tk.priority, "team": tk.team, "note": map[string]any{"ignored": []int{1, 2}}})
	if tk.reply != nil {
		add("ticket.first_reply", *tk.reply, map[string]any{"agent_id": "a-1"})
	}
	for i, r := range tk.resolutions {
		extra := map[string]any{}
		if r.replies >= 0 {
			extra["replies"] = r.replies
		}
		if r.hasHdl {
			extra["handle_seconds"] = r.handle
		}
		add("ticket.resolved", r.at, extra)
		if i < len(tk.reopens) {
			add("ticket.reopened", tk.reopens[i], nil)
		}
	}
	if s := tk.survey; s != nil {
		add("survey.answered", s.at, map[string]any{"survey": map[string]any{"kind": s.kind, "score": s.score}})
	}
	return out
}

// expected holds the KPIs the script implies for one window and one cell.
type expected struct {
	opened, resolved, reopened int
	firstReplies, resolutionsN []float64 // seconds
	fcrN, fcrOne               int
	handle                     []float64
	csat, nps, ces             []int
}

type cellKey struct{ channel, priority, team string }

// windowStart returns the earliest event time a window of width w ending
// at now covers: the window is made of 60 panes of w/60, the current one
// included.
func windowStart(now time.Time, w time.Duration) time.Time {
	pane := w / 60
	return now.Truncate(pane).Add(-59 * pane)
}

// expect computes, from the script alone, the windowed KPIs per cell.
func expect(tickets []*scriptedTicket, start time.Time) map[cellKey]*expected {
	out := map[cellKey]*expected{}
	in := func(t time.Time) bool { return !t.Before(start) }
	for _, tk := range tickets {
		ch := tk.channel
		if ch == "fax" {
			ch = "other"
		}
		cells := []cellKey{{"all", "all", "all"}, {ch, "all", "all"}, {"all", tk.priority, "all"}, {"all", "all", tk.team}}
		for _, c := range cells {
			if out[c] == nil {
				out[c] = &expected{}
			}
			e := out[c]
			if in(tk.opened) {
				e.opened++
			}
			if tk.reply != nil && in(*tk.reply) {
				e.firstReplies = append(e.firstReplies, tk.reply.Sub(tk.opened).Seconds())
			}
			for _, r := range tk.resolutions {
				if !in(r.at) {
					continue
				}
				e.resolved++
				e.resolutionsN = append(e.resolutionsN, r.at.Sub(tk.opened).Seconds())
				if r.replies >= 0 {
					e.fcrN++
					if r.replies == 1 {
						e.fcrOne++
					}
				}
				if r.hasHdl {
					e.handle = append(e.handle, r.handle)
				}
			}
			for _, re := range tk.reopens {
				if in(re) {
					e.reopened++
				}
			}
			if s := tk.survey; s != nil && in(s.at) {
				switch s.kind {
				case "csat":
					e.csat = append(e.csat, s.score)
				case "nps":
					e.nps = append(e.nps, s.score)
				case "ces":
					e.ces = append(e.ces, s.score)
				}
			}
		}
	}
	return out
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func nearestRank(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	r := int(math.Ceil(q*float64(len(s)) - 1e-9))
	return s[max(r, 1)-1]
}

func publish(t *testing.T, js jetstream.JetStream, msgs []message, withMsgID bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range msgs {
		nm := nats.NewMsg(m.subject)
		nm.Data = m.body
		if withMsgID {
			nm.Header.Set(jetstream.MsgIDHeader, m.id)
		}
		_, err := js.PublishMsg(ctx, nm)
		require.NoError(t, err)
	}
}

// poison are messages the aggregator must reject, with their reasons.
func poison() []struct {
	body   string
	reason string
} {
	return []struct {
		body   string
		reason string
	}{
		{`{"id":"p1","type":"ticket.opened"`, "invalid_json"},
		{`not json at all`, "invalid_json"},
		{`{"type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z"}`, "missing_field"},
		{`{"id":"p3","type":"ticket.resolved","occurred_at":"2026-11-23T10:00:00Z"}`, "missing_field"},
		{`{"id":"p4","type":"ticket.escalated","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z"}`, "unknown_type"},
		{`{"id":"p5","type":"survey.answered","occurred_at":"2026-11-23T10:00:00Z","survey":{"kind":"csat","score":6}}`, "out_of_range"},
		{`{"id":"p6","type":"ticket.opened","ticket_id":"X","occurred_at":"yesterday"}`, "invalid_value"},
		{`{"id":"p7","type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z","priority":"p1"}`, "invalid_value"},
		{`{"id":"p8","type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z","pad":"` + strings.Repeat("x", 70_000) + `"}`, "too_large"},
		// An hour ahead of the aggregator's clock.
		{`{"id":"p9","type":"ticket.opened","ticket_id":"F","occurred_at":"2026-11-23T13:00:30Z"}`, "future"},
	}
}

// scenario is the whole published stream of the test.
type scenario struct {
	tickets    []*scriptedTicket
	events     []message // valid events, in publication order
	duplicates []message // republished without Nats-Msg-Id: the aggregator must drop them
	late       message   // an opening 8 days old: ticket state, no window
}

func newScenario(seed uint64, n int) *scenario {
	rng := rand.New(rand.NewPCG(seed, 1))
	sc := &scenario{tickets: script(rng, n)}
	for _, tk := range sc.tickets {
		sc.events = append(sc.events, tk.messages()...)
	}
	slices.SortStableFunc(sc.events, func(a, b message) int { return a.at.Compare(b.at) })
	// Out-of-order pairs: swap neighbours now and then.
	for i := 0; i+1 < len(sc.events); i += 7 {
		sc.events[i], sc.events[i+1] = sc.events[i+1], sc.events[i]
	}
	for i := 0; i < len(sc.events); i += 29 {
		sc.duplicates = append(sc.duplicates, sc.events[i])
	}
	late := testNow.Add(-8 * 24 * time.Hour)
	sc.late = message{id: "late-1", subject: "helpdesk.events.ticket.opened", at: late,
		body: []byte(`{"id":"late-1","type":"ticket.opened","ticket_id":"L-1","occurred_at":"` + late.Format(time.RFC3339) + `","channel":"email","priority":"low","team":"billing"}`)}
	return sc
}

// shuffled returns the events shuffled within half-hour slices of event
// time, so every event still arrives before the newest event time passes
// it by the one-hour hold.
func (sc *scenario) shuffled(seed uint64) []message {
	rng := rand.New(rand.NewPCG(seed, 2))
	evs := slices.Clone(sc.events)
	slices.SortStableFunc(evs, func(a, b message) int { return a.at.Compare(b.at) })
	for i := 0; i < len(evs); {
		j := i
		slot := evs[i].at.Truncate(30 * time.Minute)
		for j < len(evs) && evs[j].at.Truncate(30*time.Minute).Equal(slot) {
			j++
		}
		part := evs[i:j]
		rng.Shuffle(len(part), func(a, b int) { part[a], part[b] = part[b], part[a] })
		i = j
	}
	return evs
}

// runScenario publishes the stream in the given order, runs the
// aggregator until it has applied everything, and returns the scrape.
func runScenario(t *testing.T, sc *scenario, order []message) map[string]float64 {
	t.Helper()
	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow)
	_, js := srv.Connect(t)
	waitStream(t, js)
	publish(t, js, order[:len(order)/2], true)
	publish(t, js, []message{sc.late}, true)
	for i, p := range poison() {
		publish(t, js, []message{{id: fmt.Sprintf("poison-%d", i), subject: "helpdesk.events.x", body: []byte(p.body)}}, true)
	}
	publish(t, js, order[len(order)/2:], true)
	publish(t, js, sc.duplicates, false)
	publish(t, js, order[:50], true) // publish retries: JetStream drops them
	total := len(order) + 1 + len(poison()) + len(sc.duplicates)

	m := waitHandled(t, agg.url, total)
	checkAPI(t, agg.url, m)
	require.NoError(t, agg.stop())

	// Every rejected message was copied to the dead-letter stream, with
	// its reason.
	dl, err := js.Stream(context.Background(), "HELPDESK_DEADLETTER")
	require.NoError(t, err)
	var reasons []string
	for seq := uint64(1); seq <= uint64(len(poison())); seq++ {
		raw, err := dl.GetMsg(context.Background(), seq)
		require.NoError(t, err)
		reasons = append(reasons, raw.Header.Get("Helpdesk-Reject-Reason"))
	}
	var want []string
	for _, p := range poison() {
		want = append(want, p.reason)
	}
	require.Equal(t, want, reasons)
	return m
}

func TestScriptedStream(t *testing.T) {
	sc := newScenario(42, 900)
	require.Greater(t, len(sc.events), 2500, "a few thousand events")
	m := runScenario(t, sc, sc.events)

	// Ingest counters.
	byType := map[string]int{}
	for _, e := range sc.events {
		byType[strings.TrimPrefix(e.subject, "helpdesk.events.")]++
	}
	byType["ticket.opened"]++ // the late one
	for typ, n := range byType {
		require.Equal(t, float64(n), m[key("helpdesk_events_total", map[string]string{"type": typ})], typ)
	}
	reasons := map[string]float64{}
	for _, p := range poison() {
		reasons[p.reason]++
	}
	for r, n := range reasons {
		require.Equal(t, n, m[key("helpdesk_events_rejected_total", map[string]string{"reason": r})], r)
	}
	require.Equal(t, float64(len(sc.duplicates)), m[`helpdesk_events_duplicate_total{}`])
	require.Equal(t, 1.0, m[`helpdesk_events_late_total{}`])
	require.Equal(t, 0.0, m[`helpdesk_events_orphaned_total{}`])

	checkWindows(t, sc, m)
	checkBacklog(t, sc, m)
	checkCumulative(t, sc, m)
}

func TestShuffledStreamGivesIdenticalMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scenario twice")
	}
	sc := newScenario(7, 600)
	inOrder := exactOutcomes(runScenario(t, sc, sc.events))
	shuffled := exactOutcomes(runScenario(t, sc, sc.shuffled(99)))
	checkWindows(t, sc, shuffled)
	// Every ticket here keeps the breakdown of its opening and every
	// duration sample its value, whatever the order: only SLA outcomes
	// are ever taken back, so the other cumulative series must agree
	// as they are, with nothing corrected.
	for _, metric := range []string{"helpdesk_tickets_opened_total", "helpdesk_tickets_resolved_total", "helpdesk_tickets_reopened_total",
		"helpdesk_first_reply_duration_seconds", "helpdesk_resolution_duration_seconds", "helpdesk_survey_responses_total"} {
		k := key("helpdesk_corrections_total", map[string]string{"metric": metric})
		require.Equal(t, 0.0, shuffled[k], k)
	}
	for k, v := range inOrder {
		if strings.HasPrefix(k, "helpdesk_") {
			require.Equal(t, v, shuffled[k], k)
		}
	}
	for k := range shuffled {
		if strings.HasPrefix(k, "helpdesk_") {
			require.Contains(t, inOrder, k)
		}
	}
}

// exactOutcomes replaces each helpdesk_sla_outcomes_total series by its
// exact value (the counter minus its corrections, which depend on the
// arrival order) and drops the corrections.
func exactOutcomes(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "helpdesk_sla_outcome_corrections_total{"):
		case strings.HasPrefix(k, "helpdesk_sla_outcomes_total{"):
			out[k] = v - m["helpdesk_sla_outcome_corrections_total"+strings.TrimPrefix(k, "helpdesk_sla_outcomes_total")]
		default:
			out[k] = v
		}
	}
	return out
}

func labels(window string, c cellKey) map[string]string {
	return map[string]string{"window": window, "channel": c.channel, "priority": c.priority, "team": c.team}
}

// checkWindows compares every windowed series of the 1h and 24h windows.
func checkWindows(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	for _, w := range []struct {
		name  string
		width time.Duration
	}{{"1h", time.Hour}, {"24h", 24 * time.Hour}} {
		exp := expect(sc.tickets, windowStart(testNow, w.width))
		cells := []cellKey{{"all", "all", "all"}}
		for _, c := range []string{"email", "chat", "phone", "web", "social", "other", "unknown"} {
			cells = append(cells, cellKey{c, "all", "all"})
		}
		for _, p := range []string{"low", "normal", "high", "urgent", "unknown"} {
			cells = append(cells, cellKey{"all", p, "all"})
		}
		for _, tm := range []string{"billing", "tech", "sales", "unknown", "other"} {
			cells = append(cells, cellKey{"all", "all", tm})
		}
		for _, c := range cells {
			e := exp[c]
			if e == nil {
				e = &expected{}
			}
			l := labels(w.name, c)
			at := func(metric string) string { return key(metric, l) }
			msg := fmt.Sprintf("window %s cell %+v", w.name, c)
			require.Equal(t, float64(e.opened), m[at("helpdesk_tickets_opened")], msg)
			require.Equal(t, float64(e.resolved), m[at("helpdesk_tickets_resolved")], msg)
			require.Equal(t, float64(e.reopened), m[at("helpdesk_tickets_reopened")], msg)
			require.Equal(t, float64(len(e.firstReplies)), m[at("helpdesk_first_replies")], msg)
			gaugeOrAbsent(t, m, at("helpdesk_reopen_ratio"), e.resolved > 0, float64(e.reopened)/float64(e.resolved), msg)
			gaugeOrAbsent(t, m, at("helpdesk_fcr_ratio"), e.fcrN > 0, float64(e.fcrOne)/float64(e.fcrN), msg)
			if len(e.firstReplies) > 0 {
				require.InEpsilon(t, mean(e.firstReplies), m[at("helpdesk_first_reply_time_avg_seconds")], 1e-9, msg)
			} else {
				require.NotContains(t, m, at("helpdesk_first_reply_time_avg_seconds"), msg)
			}
			if len(e.resolutionsN) > 0 {
				require.InEpsilon(t, mean(e.resolutionsN), m[at("helpdesk_resolution_time_avg_seconds")], 1e-9, msg)
			}
			if len(e.handle) > 0 {
				require.InEpsilon(t, mean(e.handle), m[at("helpdesk_handle_time_avg_seconds")], 1e-9, msg)
			} else {
				require.NotContains(t, m, at("helpdesk_handle_time_avg_seconds"), msg)
			}
			for _, q := range []string{"0.5", "0.9", "0.99"} {
				ql := labels(w.name, c)
				ql["quantile"] = q
				qf, err := strconv.ParseFloat(q, 64)
				require.NoError(t, err)
				for _, d := range []struct {
					metric  string
					samples []float64
				}{{"helpdesk_first_reply_time_seconds", e.firstReplies}, {"helpdesk_resolution_time_seconds", e.resolutionsN}} {
					k := key(d.metric, ql)
					if len(d.samples) == 0 {
						require.NotContains(t, m, k, msg)
						continue
					}
					exact := nearestRank(d.samples, qf)
					require.Contains(t, m, k, msg)
					require.LessOrEqual(t, math.Abs(m[k]-exact), 0.01*exact, "%s q=%s: exact %v", msg, q, exact)
				}
			}
			checkSurveys(t, m, at, e, msg)
		}
	}
}

func gaugeOrAbsent(t *testing.T, m map[string]float64, k string, present bool, want float64, msg string) {
	t.Helper()
	if !present {
		require.NotContains(t, m, k, msg)
		return
	}
	require.Contains(t, m, k, msg)
	require.InDelta(t, want, m[k], 1e-12, "%s %s", k, msg)
}

func checkSurveys(t *testing.T, m map[string]float64, at func(string) string, e *expected, msg string) {
	t.Helper()
	sat, sum := 0, 0
	for _, s := range e.csat {
		sum += s
		if s >= 4 {
			sat++
		}
	}
	n := len(e.csat)
	require.Equal(t, float64(n), m[at("helpdesk_csat_responses")], msg)
	require.Equal(t, float64(sat), m[at("helpdesk_csat_satisfied_responses")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_csat_ratio"), n > 0, float64(sat)/float64(n), msg)
	gaugeOrAbsent(t, m, at("helpdesk_csat_score_avg"), n > 0, float64(sum)/float64(n), msg)

	pro, det := 0, 0
	for _, s := range e.nps {
		if s >= 9 {
			pro++
		} else if s <= 6 {
			det++
		}
	}
	n = len(e.nps)
	require.Equal(t, float64(n), m[at("helpdesk_nps_responses")], msg)
	require.Equal(t, float64(pro), m[at("helpdesk_nps_promoters")], msg)
	require.Equal(t, float64(det), m[at("helpdesk_nps_detractors")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_nps_score"), n > 0, 100*float64(pro-det)/float64(n), msg)

	easy, sum := 0, 0
	for _, s := range e.ces {
		sum += s
		if s >= 5 {
			easy++
		}
	}
	n = len(e.ces)
	require.Equal(t, float64(n), m[at("helpdesk_ces_responses")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_ces_score_avg"), n > 0, float64(sum)/float64(n), msg)
	gaugeOrAbsent(t, m, at("helpdesk_ces_easy_ratio"), n > 0, float64(easy)/float64(n), msg)
}

// checkBacklog compares open tickets per cell; the late opening counts.
func checkBacklog(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	open := map[cellKey]int{}
	count := func(ch, pri, team string) {
		for _, c := range []cellKey{{"all", "all", "all"}, {ch, "all", "all"}, {"all", pri, "all"}, {"all", "all", team}} {
			open[c]++
		}
	}
	for _, tk := range sc.tickets {
		if len(tk.resolutions) == 0 || len(tk.reopens) == len(tk.resolutions) {
			ch := tk.channel
			if ch == "fax" {
				ch = "other"
			}
			count(ch, tk.priority, tk.team)
		}
	}
	count("email", "low", "billing") // the late ticket
	for _, c := range []cellKey{{"all", "all", "all"}, {"email", "all", "all"}, {"other", "all", "all"}, {"all", "urgent", "all"}, {"all", "low", "all"}, {"all", "all", "tech"}, {"all", "all", "billing"}} {
		require.Equal(t, float64(open[c]), m[key("helpdesk_open_tickets", map[string]string{"channel": c.channel, "priority": c.priority, "team": c.team})], "%+v", c)
	}
}

// checkCumulative compares the cumulative counters and histograms.
func checkCumulative(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	type combo struct{ ch, pri, team string }
	opened, resolved := map[combo]int{}, map[combo]int{}
	type chPri struct{ ch, pri string }
	resHist := map[chPri][]float64{}
	surveys := map[string]int{}
	for _, tk := range sc.tickets {
		ch := tk.channel
		if ch == "fax" {
			ch = "other"
		}
		c := combo{ch, tk.priority, tk.team}
		opened[c]++
		resolved[c] += len(tk.resolutions)
		for _, r := range tk.resolutions {
			resHist[chPri{ch, tk.priority}] = append(resHist[chPri{ch, tk.priority}], r.at.Sub(tk.opened).Seconds())
		}
		if s := tk.survey; s != nil {
			surveys[fmt.Sprintf("%s/%d", s.kind, s.score)]++
		}
	}
	opened[combo{"email", "low", "billing"}]++
	for c, n := range opened {
		l := map[string]string{"channel": c.ch, "priority": c.pri, "team": c.team}
		require.Equal(t, float64(n), m[key("helpdesk_tickets_opened_total", l)], "%+v", c)
		require.Equal(t, float64(resolved[c]), m[key("helpdesk_tickets_resolved_total", l)], "%+v", c)
	}
	for c, samples := range resHist {
		l := map[string]string{"channel": c.ch, "priority": c.pri}
		require.Equal(t, float64(len(samples)), m[key("helpdesk_resolution_duration_seconds_count", l)], "%+v", c)
		sum, under1h := 0.0, 0
		for _, s := range samples {
			sum += s
			if s <= 3600 {
				under1h++
			}
		}
		require.InDelta(t, sum, m[key("helpdesk_resolution_duration_seconds_sum", l)], 1e-6*sum+1e-9)
		l["le"] = "3600"
		require.Equal(t, float64(under1h), m[key("helpdesk_resolution_duration_seconds_bucket", l)], "%+v", c)
	}
	for ks, n := range surveys {
		kind, score, _ := strings.Cut(ks, "/")
		require.Equal(t, float64(n), m[key("helpdesk_survey_responses_total", map[string]string{"kind": kind, "score": score})], ks)
	}
}

// checkAPI compares /api/v1/kpis with the gauges of the same scrape, for
// every series of the 1h window, and checks the API's errors.
func checkAPI(t *testing.T, baseURL string, m map[string]float64) {
	t.Helper()
	resp, err := http.Get(baseURL + "/api/v1/kpis?window=1h")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Window string           `json:"window"`
		Series []map[string]any `json:"series"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "1h", body.Window)
	require.NotEmpty(t, body.Series)
	for _, s := range body.Series {
		l := map[string]string{"window": "1h", "channel": s["channel"].(string), "priority": s["priority"].(string), "team": s["team"].(string)}
		for field, v := range s {
			switch v := v.(type) {
			case float64:
				name := "helpdesk_" + field
				if field == "open_tickets" {
					delete(l, "window")
					require.Equal(t, m[key(name, l)], v, field)
					l["window"] = "1h"
					continue
				}
				require.Contains(t, m, key(name, l), field)
				require.Equal(t, m[key(name, l)], v, "%s %v", field, l)
			case map[string]any: // quantiles
				for q, qv := range v {
					ql := map[string]string{"quantile": q}
					for k, x := range l {
						ql[k] = x
					}
					require.Equal(t, m[key("helpdesk_"+field, ql)], qv, "%s %v", field, ql)
				}
			}
		}
	}
	for _, bad := range []string{"", "?window=2h"} {
		resp, err := http.Get(baseURL + "/api/v1/kpis" + bad)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(baseURL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
}
