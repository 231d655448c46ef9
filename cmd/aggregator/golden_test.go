package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden from the current output of TestGoldenMetrics")

// goldenAsOf is the -as-of of the golden run: the fixed clock windows and
// SLA clocks are evaluated at.
const goldenAsOf = "2026-11-23T12:00:00Z"

const goldenFile = "testdata/metrics.golden"

// goldenEvent is one event of the golden stream, placed minutes before
// goldenAsOf (every one at least a minute away from a window's edge).
type goldenEvent struct {
	id, typ, ticket string
	ago             float64 // minutes before goldenAsOf
	extra           map[string]any
}

// goldenTicket opens a ticket with the given labels; an empty value is
// left out of the event.
func goldenTicket(ticket string, ago float64, channel, priority, team string) goldenEvent {
	extra := map[string]any{}
	for k, v := range map[string]string{"channel": channel, "priority": priority, "team": team} {
		if v != "" {
			extra[k] = v
		}
	}
	return goldenEvent{id: ticket + "-open", typ: "ticket.opened", ticket: ticket, ago: ago, extra: extra}
}

func goldenReply(ticket string, ago float64) goldenEvent {
	return goldenEvent{id: ticket + "-reply", typ: "ticket.first_reply", ticket: ticket, ago: ago, extra: map[string]any{"agent_id": "a-1"}}
}

// goldenResolve resolves a ticket; replies < 0 and handle < 0 leave the
// fields out.
func goldenResolve(id, ticket string, ago float64, replies int, handle float64) goldenEvent {
	extra := map[string]any{}
	if replies >= 0 {
		extra["replies"] = replies
	}
	if handle >= 0 {
		extra["handle_seconds"] = handle
	}
	return goldenEvent{id: id, typ: "ticket.resolved", ticket: ticket, ago: ago, extra: extra}
}

func goldenSurvey(ticket string, ago float64, kind string, score int) goldenEvent {
	return goldenEvent{id: ticket + "-" + kind, typ: "survey.answered", ticket: ticket, ago: ago,
		extra: map[string]any{"survey": map[string]any{"kind": kind, "score": score}}}
}

// goldenStream is the scripted stream, in publishing order (event-time
// order), as messages. Twelve tickets over five channels (fax is not on
// the allow-list: other), every priority (T8 gives none: normal), three
// teams and one ticket without (unknown); first replies, resolutions
// (one fulfilling the first reply clock without a first reply), a
// reopening and its second resolution, two surveys of each kind; then a
// duplicate of T1's first reply under another message id, and a poison
// message.
//
//	ticket channel prio   team     opened  first reply  resolved (replies, handle)    survey
//	T8     email   -      tech     -2d     -            -2d+30m (-, -)                csat 2 at -2d+40m
//	T4     email   low    billing  -180m   -120m        -                             -
//	T7     fax     normal sales    -55m    -54m         -50m (0, -)                   ces 6 at -45m
//	T1     email   urgent billing  -50m    -45m         -30m (1, 600s)                csat 5 at -25m
//	T2     chat    high   tech     -40m    -38m         -35m (2, 300s), reopened -20m,
//	                                                    -8m (1, -)                    nps 9 at -5m
//	T3     phone   normal sales    -30m    -            -                             -
//	T9     chat    low    billing  -25m    -            -16m (1, 120s)                ces 3 at -13m
//	T5     chat    urgent tech     -20m    -            -                             -
//	T11    social  urgent tech     -13m    -            -                             -
//	T6     web     high   -        -12m    -10m         -                             -
//	T10    phone   urgent sales    -9m     -3m          -                             -
//	T12    email   high   billing  -6m     -            -2m (1, -)                    nps 7 at -1m
func goldenStream() []message {
	evs := []goldenEvent{
		goldenTicket("T8", 2880, "email", "", "tech"),
		goldenResolve("T8-res", "T8", 2850, -1, -1),
		goldenSurvey("T8", 2840, "csat", 2),
		goldenTicket("T4", 180, "email", "low", "billing"),
		goldenReply("T4", 120),
		goldenTicket("T7", 55, "fax", "normal", "sales"),
		goldenReply("T7", 54),
		goldenTicket("T1", 50, "email", "urgent", "billing"),
		goldenResolve("T7-res", "T7", 50, 0, -1),
		goldenReply("T1", 45),
		goldenSurvey("T7", 45, "ces", 6),
		goldenTicket("T2", 40, "chat", "high", "tech"),
		goldenReply("T2", 38),
		goldenResolve("T2-res1", "T2", 35, 2, 300),
		goldenTicket("T3", 30, "phone", "normal", "sales"),
		goldenResolve("T1-res", "T1", 30, 1, 600),
		goldenTicket("T9", 25, "chat", "low", "billing"),
		goldenSurvey("T1", 25, "csat", 5),
		goldenTicket("T5", 20, "chat", "urgent", "tech"),
		{id: "T2-reopen", typ: "ticket.reopened", ticket: "T2", ago: 20},
		goldenResolve("T9-res", "T9", 16, 1, 120),
		goldenTicket("T11", 13, "social", "urgent", "tech"),
		goldenSurvey("T9", 13, "ces", 3),
		goldenTicket("T6", 12, "web", "high", ""),
		goldenReply("T6", 10),
		goldenTicket("T10", 9, "phone", "urgent", "sales"),
		goldenResolve("T2-res2", "T2", 8, 1, -1),
		goldenTicket("T12", 6, "email", "high", "billing"),
		goldenSurvey("T2", 5, "nps", 9),
		goldenReply("T10", 3),
		goldenResolve("T12-res", "T12", 2, 1, -1),
		goldenSurvey("T12", 1, "nps", 7),
	}
	asOf, err := time.Parse(time.RFC3339, goldenAsOf)
	if err != nil {
		panic(err)
	}
	var out []message
	for _, e := range evs {
		at := asOf.Add(-time.Duration(e.ago * float64(time.Minute)))
		body := map[string]any{"id": e.id, "type": e.typ, "ticket_id": e.ticket, "occurred_at": at.Format(time.RFC3339Nano)}
		for k, v := range e.extra {
			body[k] = v
		}
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		out = append(out, message{id: e.id, subject: "helpdesk.events." + e.typ, body: b, at: at})
	}
	// T1's first reply again, under another message id, so that
	// JetStream stores it and the aggregator drops it.
	dup := out[9]
	if !strings.Contains(string(dup.body), `"id":"T1-reply"`) {
		panic("the duplicate is not T1's first reply")
	}
	dup.id = "T1-reply-again"
	out = append(out, dup,
		message{id: "poison", subject: "helpdesk.events.ticket.opened", body: []byte(`{"id":"P1","type":"ticket.opened"`)})
	return out
}

// goldenVolatile reports whether a metric family depends on the process or
// on timing rather than on the stream and the clock: left out of the
// golden file.
func goldenVolatile(name string) bool {
	for _, p := range []string{"go_", "process_", "promhttp_", "helpdesk_snapshot_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// goldenFilter drops the volatile families from a text exposition,
// keeping everything else byte for byte.
func goldenFilter(t *testing.T, exposition string) string {
	t.Helper()
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		if i := strings.IndexAny(name, " {"); i >= 0 {
			name = name[:i]
		}
		if !goldenVolatile(name) {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	require.NoError(t, sc.Err())
	return out.String()
}

// TestGoldenMetrics runs the whole aggregator in process with -as-of
// against a NATS server holding the scripted stream, waits until every
// message is handled and the state has caught up, and compares /metrics,
// without the process's own and the snapshot series, with
// testdata/metrics.golden, exactly. With -update it rewrites the file
// instead: read the diff before committing it.
//
// The golden file is not the only oracle: a handful of values are
// checked here too, computed by hand from the script.
func TestGoldenMetrics(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	parsed, err := parseFlags([]string{
		"-as-of", goldenAsOf,
		"-nats-url", srv.ClientURL(),
		"-http-addr", "127.0.0.1:0",
		"-data-dir", t.TempDir(),
	}, noEnv, io.Discard)
	require.NoError(t, err)
	asOf, err := time.Parse(time.RFC3339, goldenAsOf)
	require.NoError(t, err)
	require.True(t, parsed.now().Equal(asOf), "-as-of sets the clock")
	agg := startAggregator(t, srv.ClientURL(), asOf, func(c *Config) {
		// The configuration parseFlags made of the command line, with the
		// harness's test hooks and its data directory.
		listening, dataDir := c.listening, c.DataDir
		*c = parsed
		c.listening, c.DataDir = listening, dataDir
	})
	waitStream(t, js)
	msgs := goldenStream()
	publish(t, js, msgs, true)

	// Wait on the exposition itself, so that what is compared is the
	// scrape that showed everything handled.
	var body string
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d messages handled, nothing pending", len(msgs)), func() bool {
		body = scrapeText(t, agg.url)
		m := parseExposition(t, body)
		return handled(m) == len(msgs) && m[`helpdesk_consumer_pending_messages{}`] == 0
	})
	got := goldenFilter(t, body)
	m := parseExposition(t, got)

	// Checks by hand, from the table on goldenStream. as-of is 12:00:00;
	// a window of width w is 60 panes of w/60 and covers from 59 panes
	// before the current one: the 15m window from 11:45:15, the 1h window
	// from 11:01.
	all := func(name, window string) string {
		return key(name, map[string]string{"window": window, "channel": "all", "priority": "all", "team": "all"})
	}
	checks := []struct {
		series string
		want   float64
		why    string
	}{
		{`helpdesk_events_total{type="ticket.opened"}`, 12, "twelve tickets"},
		{`helpdesk_events_total{type="ticket.first_reply"}`, 6, "T1 T2 T4 T6 T7 T10; T1's again is a duplicate"},
		{`helpdesk_events_total{type="ticket.resolved"}`, 7, "T1 T2 (twice) T7 T8 T9 T12"},
		{`helpdesk_events_total{type="ticket.reopened"}`, 1, "T2"},
		{`helpdesk_events_total{type="survey.answered"}`, 6, "csat T1 T8, nps T2 T12, ces T7 T9"},
		{`helpdesk_events_duplicate_total{}`, 1, "T1's first reply again"},
		{`helpdesk_events_rejected_total{reason="invalid_json"}`, 1, "the poison message"},
		{`helpdesk_events_deadlettered_total{}`, 1, "the poison message, copied"},
		{`helpdesk_tracked_tickets{}`, 12, "none resolved long enough ago to be forgotten"},
		{key("helpdesk_open_tickets", map[string]string{"channel": "all", "priority": "all", "team": "all"}), 6,
			"T3 T4 T5 T6 T10 T11; T2 was reopened and resolved again"},
		{key("helpdesk_open_tickets", map[string]string{"channel": "all", "priority": "urgent", "team": "all"}), 3, "T5 T10 T11"},
		{all("helpdesk_tickets_opened", "15m"), 4, "T11 (-13m) T6 (-12m) T10 (-9m) T12 (-6m)"},
		{all("helpdesk_tickets_opened", "1h"), 10, "all but T4 (-180m) and T8 (-2d)"},
		{all("helpdesk_tickets_opened", "7d"), 12, "all"},
		{all("helpdesk_tickets_resolved", "1h"), 6, "T7 -50m, T2 -35m and -8m, T1 -30m, T9 -16m, T12 -2m"},
		{all("helpdesk_reopen_ratio", "1h"), 1.0 / 6, "T2's reopening over six resolutions"},
		{all("helpdesk_fcr_ratio", "1h"), 4.0 / 6, "one reply: T1 T2(second) T9 T12, of six reporting replies (T7 0, T2 first 2)"},
		{all("helpdesk_first_reply_time_avg_seconds", "1h"), 192, "(300 T1 + 120 T2 + 120 T6 + 60 T7 + 360 T10) / 5"},
		{all("helpdesk_resolution_time_avg_seconds", "1h"), 750, "(1200 T1 + 300 + 1920 T2 + 300 T7 + 540 T9 + 240 T12) / 6, from the opening"},
		{all("helpdesk_handle_time_avg_seconds", "1h"), 340, "(600 T1 + 300 T2 + 120 T9) / 3"},
		{all("helpdesk_csat_ratio", "7d"), 0.5, "T1 5 of T1 5 and T8 2"},
		{all("helpdesk_csat_score_avg", "7d"), 3.5, "(5 + 2) / 2"},
		{all("helpdesk_csat_responses", "1h"), 1, "T1 only; T8's is two days old"},
		{all("helpdesk_nps_score", "1h"), 50, "100 × (1 promoter (T2 9) − 0 detractors) / 2 (T12 7 is passive)"},
		{all("helpdesk_ces_score_avg", "1h"), 4.5, "(6 T7 + 3 T9) / 2"},
		{all("helpdesk_ces_easy_ratio", "1h"), 0.5, "T7 6 of two"},
		{key("helpdesk_sla_breached_open_tickets", map[string]string{"sla": "first_reply", "priority": "urgent", "policy": "all", "channel": "all", "team": "all"}), 1,
			"T5, no reply 20m after its opening: 15m target passed at -5m"},
		{key("helpdesk_sla_at_risk_tickets", map[string]string{"sla": "first_reply", "priority": "urgent", "policy": "all", "channel": "all", "team": "all"}), 1,
			"T11: 80% of 15m gone at -1m, deadline +2m"},
		{key("helpdesk_sla_next_breach_seconds", map[string]string{"sla": "first_reply", "priority": "all", "policy": "all", "channel": "all", "team": "all"}), 120, "T11's deadline at +2m"},
		{key("helpdesk_sla_next_breach_seconds", map[string]string{"sla": "first_reply", "priority": "normal", "policy": "all", "channel": "all", "team": "all"}), 12600,
			"T3, opened -30m, 4h target: +210m"},
		{key("helpdesk_sla_next_breach_seconds", map[string]string{"sla": "resolution", "priority": "all", "policy": "all", "channel": "all", "team": "all"}), 13200,
			"T5, opened -20m, 4h target: +220m"},
		{key("helpdesk_sla_breached", map[string]string{"window": "15m", "sla": "first_reply", "priority": "urgent", "policy": "all", "channel": "all", "team": "all"}), 1,
			"T5, counted at its deadline, -5m"},
		{key("helpdesk_sla_achieved", map[string]string{"window": "1h", "sla": "first_reply", "priority": "urgent", "policy": "all", "channel": "all", "team": "all"}), 2,
			"T1 (5m) and T10 (6m)"},
		{key("helpdesk_sla_compliance_ratio", map[string]string{"window": "1h", "sla": "first_reply", "priority": "all", "policy": "all", "channel": "all", "team": "all"}), 7.0 / 8,
			"met: T7 T1 T2 T9 (by its resolution) T6 T10 T12 (likewise); breached: T5"},
		{key("helpdesk_sla_achieved", map[string]string{"window": "1h", "sla": "resolution", "priority": "high", "policy": "all", "channel": "all", "team": "all"}), 3,
			"T2's two resolution clocks, T12"},
		{key("helpdesk_sla_outcomes_total", map[string]string{"sla": "first_reply", "priority": "urgent", "policy": "all", "team": "all", "outcome": "breached"}), 1,
			"T5, its deadline passed by the counters' clock too"},
		{key("helpdesk_sla_outcomes_total", map[string]string{"sla": "first_reply", "priority": "low", "policy": "all", "team": "all", "outcome": "achieved"}), 2,
			"T4's reply, T9's resolution fulfilling its first reply clock"},
		{key("helpdesk_tickets_opened_total", map[string]string{"channel": "other", "priority": "normal", "team": "sales"}), 1, "T7 on fax"},
		{key("helpdesk_tickets_opened_total", map[string]string{"channel": "web", "priority": "high", "team": "unknown"}), 1, "T6, no team"},
		{key("helpdesk_tickets_resolved_total", map[string]string{"channel": "chat", "priority": "high", "team": "tech"}), 2, "T2, twice"},
		{key("helpdesk_survey_responses_total", map[string]string{"kind": "nps", "score": "7"}), 1, "T12"},
		{key("helpdesk_first_reply_duration_seconds_count", map[string]string{"channel": "email", "priority": "urgent"}), 1, "T1"},
		{key("helpdesk_first_reply_duration_seconds_sum", map[string]string{"channel": "email", "priority": "urgent"}), 300, "T1, 5m"},
		{key("helpdesk_resolution_duration_seconds_sum", map[string]string{"channel": "chat", "priority": "high"}), 2220, "T2: 300 + 1920"},
		{`helpdesk_last_event_timestamp_seconds{}`, float64(asOf.Add(-time.Minute).Unix()), "T12's survey at -1m"},
		{`helpdesk_consumer_pending_messages{}`, 0, "caught up"},
		{`helpdesk_stream_regressions_total{kind="behind"}`, 0, "a fresh stream"},
	}
	for _, c := range checks {
		v, ok := m[c.series]
		require.True(t, ok, "%s is exposed (%s)", c.series, c.why)
		require.InDelta(t, c.want, v, 1e-9, "%s: %s", c.series, c.why)
	}
	// Quantiles are within 1% of the exact value.
	quantile := func(name, q string) string {
		return key(name, map[string]string{"window": "1h", "channel": "all", "priority": "all", "team": "all", "quantile": q})
	}
	for _, c := range []struct {
		series string
		want   float64
		why    string
	}{
		{quantile("helpdesk_first_reply_time_seconds", "0.5"), 120, "the middle of 60 120 120 300 360"},
		{quantile("helpdesk_first_reply_time_seconds", "0.9"), 360, "the largest of the five"},
		{quantile("helpdesk_resolution_time_seconds", "0.5"), 300, "240 300 300 540 1200 1920: the lower middle"},
		{quantile("helpdesk_resolution_time_seconds", "0.9"), 1920, "the largest of the six"},
	} {
		v, ok := m[c.series]
		require.True(t, ok, "%s is exposed (%s)", c.series, c.why)
		require.InEpsilon(t, c.want, v, 0.01, "%s: %s", c.series, c.why)
	}
	// Nothing of the process, or of snapshots, is left.
	for series := range m {
		require.False(t, goldenVolatile(series), series)
	}

	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenFile), 0o755))
		require.NoError(t, os.WriteFile(goldenFile, []byte(got), 0o644))
		t.Logf("wrote %s: %d lines", goldenFile, strings.Count(got, "\n"))
		return
	}
	want, err := os.ReadFile(goldenFile)
	require.NoError(t, err, "run go test -run TestGoldenMetrics ./cmd/aggregator -update to create it")
	if string(want) != got {
		t.Fatalf("/metrics differs from %s (if the change is intended, rerun with -update and review the diff):\n%s",
			goldenFile, lineDiff(string(want), got, 40))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+), at most
// limit of each; for two expositions, sorted alike, that names every
// series that changed.
func lineDiff(want, got string, limit int) string {
	count := func(s string) map[string]int {
		n := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			n[l]++
		}
		return n
	}
	w, g := count(want), count(got)
	var out strings.Builder
	for _, side := range []struct {
		sign     string
		text     string
		own, oth map[string]int
	}{{"-", want, w, g}, {"+", got, g, w}} {
		shown := 0
		for _, l := range strings.Split(side.text, "\n") {
			if side.own[l] > side.oth[l] {
				side.own[l]-- // report each surplus line once
				if shown++; shown <= limit {
					fmt.Fprintf(&out, "%s %s\n", side.sign, l)
				}
			}
		}
		if shown > limit {
			fmt.Fprintf(&out, "%s … %d more\n", side.sign, shown-limit)
		}
	}
	if out.Len() == 0 {
		return "(the same lines, in another order)"
	}
	return out.String()
}

// scrapeText fetches /metrics in the text format.
func scrapeText(t *testing.T, baseURL string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// parseExposition returns every sample of a text exposition as
// "name{labels}" → value, as scrape does.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	out := map[string]float64{}
	for name, mf := range families {
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case mt.Gauge != nil:
				out[key(name, labels)] = mt.GetGauge().GetValue()
			case mt.Counter != nil:
				out[key(name, labels)] = mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				out[key(name+"_count", labels)] = float64(mt.GetHistogram().GetSampleCount())
				out[key(name+"_sum", labels)] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}
