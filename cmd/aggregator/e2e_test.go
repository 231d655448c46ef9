//go:build linux

// The end-to-end alerting test runs real Prometheus and Alertmanager
// servers as child processes. It is Linux-only because the children are
// tied to the test process with Pdeathsig, so a test binary killed by
// -timeout cannot leave servers running; the servers come from Debian's
// packages anyway (scripts/ensure-prometheus.sh).

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/promtest"
	"go.yaml.in/yaml/v3"
)

const (
	// e2eBudget bounds the whole test once the binaries are found; it
	// typically needs a fraction of it.
	e2eBudget = 90 * time.Second
	// e2eFor replaces every alert's `for:` so that alerts fire within
	// seconds.
	e2eFor = "1s"
	// e2eJob is the job name the shipped rules select on
	// (HelpdeskAggregatorDown).
	e2eJob = "helpdesk-kpi-aggregator"

	e2eAtRisk = "HelpdeskUrgentFirstReplySLAAtRisk"
	// e2eBreached is the page on a new breach: an increase of the breached
	// outcomes over a range (15m in alerts.yml). e2eShortRules shortens
	// that one range to e2eBreachRange, as it shortens every for:, so that
	// the test sees the alert clear by itself once the range has passed.
	e2eBreached      = "HelpdeskSLABreached"
	e2eBreachRange   = 10 * time.Second
	e2eBreachRangeIn = "[15m]" // the range in the shipped rule

	e2eRunbookBase = "https://github.com/helpdesk-kpi/aggregator/blob/main/docs/runbooks.md#"
)

// e2eIgnoredAlerts are the alerts this setup may fire besides the ones the
// test is about, and why; any other alert fails the test. They are health
// alerts whose `for:` is shortened like every other: the test Alertmanager
// configuration has no inhibition rules, so they do not hide the business
// alerts the test waits for.
var e2eIgnoredAlerts = map[string]string{
	"HelpdeskAggregatorDown":         "absent(up) holds until Prometheus's first scrape",
	"HelpdeskSnapshotStale":          "the snapshot timestamp is 0 until the first snapshot (every 30s)",
	"HelpdeskAggregatorNotConsuming": "pending > 0 in a scrape right after a publish, before rate() has two samples",
}

// e2eSLAConfig is the aggregator's SLA configuration, as an operator
// would write it in the -config file: the default policy, whose first
// reply clock also stands still while a ticket is on hold (the contract's
// example policy does this), so that a paused clock can meet the one
// at-risk alert that pages, HelpdeskUrgentFirstReplySLAAtRisk. Resolution
// keeps its default pauses; nothing pages on resolution at risk.
const e2eSLAConfig = `
sla:
  pause_on: {first_reply: [on_hold], resolution: [pending, on_hold]}
`

// TestEndToEndAlerting runs the aggregator (in-process, with a clock the
// test moves), a real Prometheus scraping it every second with the shipped
// alert rules (every `for:` shortened to 1s, the new-breach range to 10s)
// and a real Alertmanager that sends to a webhook receiver in the test, and
// walks an urgent ticket through its first reply SLA: at risk, breached,
// replied. The webhook must receive the at-risk alert, then the new-breach
// page, with the right labels, once, and the page's resolved notification
// once the range has passed (a page about the breach, not about the ticket
// staying open); one breached open ticket is under the threshold of the
// level warning HelpdeskSLABreachedOpenTickets, which never notifies. Then a second
// urgent ticket, on hold past its warning point: no page while it is
// paused, however many times Prometheus evaluates the rule, and the
// at-risk page once it is taken off hold, close to its deadline.
func TestEndToEndAlerting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager; skipped with -short")
	}
	root := promtest.RepoRoot(t)
	promBin := promtest.Tool(t, "prometheus")
	amBin := promtest.Tool(t, "prometheus-alertmanager", "alertmanager")

	e := &e2eEnv{t: t, deadline: time.Now().Add(e2eBudget)}
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(e.deadline) {
		e.deadline = d.Add(-5 * time.Second) // leave time to report
	}
	e.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// The webhook receiver: records every notification.
	e.hook = &e2eWebhook{}
	hookSrv := httptest.NewServer(e.hook)
	t.Cleanup(hookSrv.Close)

	// The aggregator, with the test's clock: T is now, and moves only when
	// the test says so. Default SLA targets: urgent first reply 15m,
	// resolution 4h, at risk at 80%; pauses from e2eSLAConfig.
	T := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return T.Add(d).Format(time.RFC3339) }
	h := newSLAHarness(t, T, func(c *Config) {
		require.NoError(t, applyYAML(c, []byte(e2eSLAConfig)), "e2eSLAConfig")
	})
	aggInstance := strings.TrimPrefix(h.agg.url, "http://")

	// Alertmanager: everything to the webhook, quickly, resolved too; no
	// inhibitions; no cluster.
	dir := t.TempDir()
	amAddr := freeAddr(t)
	amConfig := e2eWriteYAML(t, filepath.Join(dir, "alertmanager.yml"), map[string]any{
		"route": map[string]any{
			"receiver":        "webhook",
			"group_by":        []string{"alertname", "sla", "priority"},
			"group_wait":      "500ms",
			"group_interval":  "1s",
			"repeat_interval": "10s",
		},
		"receivers": []any{map[string]any{
			"name": "webhook",
			"webhook_configs": []any{map[string]any{
				"url":           hookSrv.URL + "/alerts",
				"send_resolved": true,
			}},
		}},
	})
	e.am = e.start("alertmanager", amBin, amAddr,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)

	// Prometheus: scrape and evaluate every second, the shipped rules with
	// short `for:`, alerts to the Alertmanager.
	rules, nAlertRules := e2eShortRules(t, filepath.Join(root, "deploy/prometheus/alerts.yml"), filepath.Join(dir, "alerts.yml"))
	promAddr := freeAddr(t)
	promConfig := e2eWriteYAML(t, filepath.Join(dir, "prometheus.yml"), map[string]any{
		"global": map[string]any{
			"scrape_interval":     "1s",
			"scrape_timeout":      "1s",
			"evaluation_interval": "1s",
		},
		"rule_files": []string{rules},
		"alerting": map[string]any{
			"alertmanagers": []any{map[string]any{
				"static_configs": []any{map[string]any{"targets": []string{amAddr}}},
			}},
		},
		"scrape_configs": []any{map[string]any{
			"job_name":       e2eJob,
			"static_configs": []any{map[string]any{"targets": []string{aggInstance}}},
		}},
	})
	e.prom = e.start("prometheus", promBin, promAddr,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+promAddr,
	)
	t.Cleanup(e.dumpOnFailure) // runs before the servers are stopped

	e.wait("Alertmanager ready", func() bool { return e.status(e.am.base+"/-/ready") == http.StatusOK })
	e.wait("Prometheus ready", func() bool { return e.status(e.prom.base+"/-/ready") == http.StatusOK })
	// Every alerting rule of the shipped file is loaded, with the short for.
	type loadedRule struct {
		Name     string  `json:"name"`
		Duration float64 `json:"duration"` // for, in seconds
	}
	var loaded []loadedRule
	e.wait("Prometheus to load the alert rules", func() bool {
		var rs struct {
			Data struct {
				Groups []struct {
					Rules []loadedRule `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if !e.getJSON(e.prom.base+"/api/v1/rules?type=alert", &rs) {
			return false
		}
		loaded = loaded[:0]
		for _, g := range rs.Data.Groups {
			loaded = append(loaded, g.Rules...)
		}
		return len(loaded) > 0
	})
	require.Len(t, loaded, nAlertRules, "alerting rules loaded by Prometheus")
	for _, r := range loaded {
		require.Equalf(t, 1.0, r.Duration, "%s: for", r.Name)
	}
	// Service discovery hands Prometheus its targets after up to 5s: wait
	// until it scrapes the aggregator and knows the Alertmanager, so no
	// alert is sent before there is somewhere to send it.
	e.wait("Prometheus to scrape the aggregator (up == 1)", func() bool {
		v, ok := e.query(`up{job="` + e2eJob + `"}`)
		return ok && v == "1"
	})
	e.wait("Prometheus to discover the Alertmanager", func() bool {
		var q struct {
			Data struct {
				Active []struct {
					URL string `json:"url"`
				} `json:"activeAlertmanagers"`
			} `json:"data"`
		}
		return e.getJSON(e.prom.base+"/api/v1/alertmanagers", &q) && len(q.Data.Active) == 1
	})

	urgentFR := key("helpdesk_sla_at_risk_tickets", sl("first_reply", "urgent"))
	breachedFR := key("helpdesk_sla_breached_open_tickets", sl("first_reply", "urgent"))

	// 1. An urgent ticket opened 13 minutes ago: 13 of its 15 minutes are
	// gone (at risk from 12), the deadline is T+2m.
	published := time.Now()
	h.publish([]string{"e2e-o1", "ticket.opened", "E2E-1", at(-13 * time.Minute), `,"priority":"urgent","channel":"chat","team":"billing"`})
	m := scrape(t, h.agg.url)
	require.Equal(t, 1.0, m[urgentFR], urgentFR)
	require.Equal(t, 0.0, m[breachedFR], breachedFR)
	atRiskFiring := e.waitAlert(0, e2eAtRisk, "firing")
	e.checkAlert(atRiskFiring, e2eAtRisk, aggInstance)
	outcomesFR := key("helpdesk_sla_outcomes_total", map[string]string{"sla": "first_reply", "policy": "all", "priority": "urgent", "team": "all", "outcome": "breached"})
	require.Equal(t, 0.0, m[outcomesFR], outcomesFR)
	_, _, early := e.hook.find(0, e2eBreached, "")
	require.Falsef(t, early, "%s notified before the deadline", e2eBreached)

	// 2. T+3m: a minute past the deadline, no reply; the helpdesk goes on
	// (another ticket, low priority, opens at T+3m). The ticket is no
	// longer "at risk", so that alert resolves; it is breached and open.
	// The cumulative counter counts the breach by the stream's own time
	// (the ledger clock, internal/kpi/ledgerclock.go): this stream holds
	// an event dated 13 minutes before it was stored, so it is not live
	// and its time is its newest event's, which the opening at T+3m moves
	// past the deadline. The breached outcome counter goes 0 -> 1 and the
	// new-breach alert pages.
	mark := e.hook.len()
	moved := time.Now()
	h.set(T.Add(3 * time.Minute))
	h.publish([]string{"e2e-o3", "ticket.opened", "E2E-3", at(3 * time.Minute), `,"priority":"low","channel":"chat","team":"billing"`})
	m = scrape(t, h.agg.url)
	require.Equal(t, 0.0, m[urgentFR], urgentFR)
	require.Equal(t, 1.0, m[breachedFR], breachedFR)
	require.Equal(t, 1.0, m[outcomesFR], outcomesFR)
	breachFiring := e.waitAlert(mark, e2eBreached, "firing")
	e.checkAlert(breachFiring, e2eBreached, aggInstance)
	atRiskResolved := e.waitAlert(mark, e2eAtRisk, "resolved")
	e.checkAlert(atRiskResolved, e2eAtRisk, aggInstance)

	// 3. The first reply, sent now (late): the ticket leaves the open
	// breaches; the breach stays counted. The page resolves by itself
	// once the range no longer holds the sample from before the breach:
	// not before e2eBreachRange (less one scrape interval) after the
	// clock passed the deadline.
	replied := time.Now()
	h.publish([]string{"e2e-r1", "ticket.first_reply", "E2E-1", at(3 * time.Minute), ``})
	m = scrape(t, h.agg.url)
	require.Equal(t, 0.0, m[breachedFR], breachedFR)
	require.Equal(t, 1.0, m[outcomesFR], outcomesFR)
	breachResolved := e.waitAlert(breachFiring.Index, e2eBreached, "resolved")
	e.checkAlert(breachResolved, e2eBreached, aggInstance)
	require.GreaterOrEqualf(t, breachResolved.Received.Sub(moved), e2eBreachRange-time.Second,
		"%s resolved before its range of %v had passed since the breach", e2eBreached, e2eBreachRange)

	// 4. A paused clock. The clock stands at S = T+3m. E2E-2, urgent, is
	// opened at S−14m (T−11m) and put on hold at S−1m (T+2m): its first
	// reply clock counted 13m of its 15m, past its warning point (80%:
	// 12m), with 2m left, and then stood still. Were it not paused it
	// would have counted 14m at S: at risk. Paused, it counts in
	// helpdesk_sla_paused_tickets only, and has no deadline. Its
	// resolution clock (4h, paused on on_hold by default) counted the same
	// 13m: paused too, far from at risk. The hold is published before the
	// opening, so the aggregator holds it until the opening arrives and
	// folds both at once: no view ever shows E2E-2 open and not yet on hold
	// (at risk, with 14m counted).
	const S = 3 * time.Minute
	pausedFR := key("helpdesk_sla_paused_tickets", sl("first_reply", "urgent"))
	pausedRes := key("helpdesk_sla_paused_tickets", sl("resolution", "all"))
	atRiskRes := key("helpdesk_sla_at_risk_tickets", sl("resolution", "all"))
	nextBreachFR := key("helpdesk_sla_next_breach_seconds", sl("first_reply", "urgent"))
	mark = e.hook.len()
	h.publish(
		[]string{"e2e-h2", "ticket.status_changed", "E2E-2", at(S - time.Minute), `,"status":"on_hold"`},
		[]string{"e2e-o2", "ticket.opened", "E2E-2", at(S - 14*time.Minute), `,"priority":"urgent","channel":"email","team":"billing"`},
	)
	m = scrape(t, h.agg.url)
	require.Equal(t, 1.0, m[pausedFR], pausedFR)
	require.Equal(t, 0.0, m[urgentFR], urgentFR)
	require.Equal(t, 0.0, m[breachedFR], breachedFR)
	require.NotContains(t, m, nextBreachFR, "a paused clock has no deadline (E2E-1's first reply is met)")
	require.Equal(t, 1.0, m[pausedRes], pausedRes)
	require.Equal(t, 0.0, m[atRiskRes], atRiskRes)
	// Prometheus has the paused state once a query returns it; every
	// evaluation of the rule that starts later sees it (or a later
	// scrape, also paused). Two of them: with for: 1s, a wrong at-risk
	// sample would have made the alert pending at the first and firing at
	// the second.
	e.wait("Prometheus to scrape the paused ticket", func() bool {
		v, ok := e.query(pausedFR)
		return ok && v == "1"
	})
	const evals = 2
	pausedSeen := time.Now()
	e.waitRuleInactive(e2eAtRisk, pausedSeen, evals)
	observed := time.Since(pausedSeen)
	_, _, early = e.hook.find(mark, e2eAtRisk, "firing")
	require.Falsef(t, early, "%s notified while E2E-2, past its warning point, was paused", e2eAtRisk)

	// 5. E2E-2 is taken off hold at S: 13m counted, at risk at once, the
	// deadline at S+2m (next breach 120s). The clock stays at S, so it
	// stays at risk and the alert pages.
	resumeMark := e.hook.len()
	resumed := time.Now()
	h.publish([]string{"e2e-s2", "ticket.status_changed", "E2E-2", at(S), `,"status":"open"`})
	m = scrape(t, h.agg.url)
	require.Equal(t, 0.0, m[pausedFR], pausedFR)
	require.Equal(t, 1.0, m[urgentFR], urgentFR)
	require.Equal(t, 0.0, m[breachedFR], breachedFR)
	require.Equal(t, 120.0, m[nextBreachFR], nextBreachFR)
	require.Equal(t, 0.0, m[pausedRes], pausedRes)
	require.Equal(t, 0.0, m[atRiskRes], atRiskRes)
	resumedFiring := e.waitAlert(resumeMark, e2eAtRisk, "firing")
	e.checkAlert(resumedFiring, e2eAtRisk, aggInstance)

	// Nothing else: the two alerts only ever had the labels above (no other
	// SLA or priority); the breach never fired again after resolving, nor
	// the at-risk alert before E2E-2 was taken off hold; every other alert
	// is one of the expected health alerts.
	events := e.hook.snapshot()
	for i, ev := range events {
		name := ev.Labels["alertname"]
		switch {
		case name == e2eAtRisk:
			e.checkAlert(ev, name, aggInstance)
			require.Falsef(t, i > atRiskResolved.Index && i < resumeMark && ev.Status == "firing", "%s notified firing after it resolved and before the paused ticket resumed: %s", name, ev)
		case name == e2eBreached:
			e.checkAlert(ev, name, aggInstance)
			require.Falsef(t, i > breachResolved.Index && ev.Status == "firing", "%s notified firing again after it resolved: %s", name, ev)
		case e2eIgnoredAlerts[name] != "":
		default:
			t.Errorf("unexpected alert notified: %s", ev)
		}
	}
	require.Empty(t, e.hook.errors(), "webhook errors")
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("notified: at risk %v after the opening was published; breach %v and at risk resolved %v after the clock passed the deadline; breach resolved %v after the reply (range %v); "+
		"no at risk for %v (%d evaluations) while paused; at risk %v after the resume; %d alerts in %d notifications in all",
		ms(atRiskFiring.Received.Sub(published)), ms(breachFiring.Received.Sub(moved)), ms(atRiskResolved.Received.Sub(moved)),
		ms(breachResolved.Received.Sub(replied)), e2eBreachRange, ms(observed), evals, ms(resumedFiring.Received.Sub(resumed)), len(events), events[len(events)-1].Notification)
}

// e2eEnv is one run's servers, clients and deadline.
type e2eEnv struct {
	t        *testing.T
	deadline time.Time
	client   *http.Client
	hook     *e2eWebhook
	am, prom *e2eProc
	procs    []*e2eProc
}

// e2eProc is a server running as a child process.
type e2eProc struct {
	name, bin string
	base      string // http://127.0.0.1:port
	logPath   string // its stdout and stderr
	exited    chan struct{}
	err       error // Wait's result, set before exited is closed
}

// start runs bin as a child process listening on addr; it is killed when
// the test ends, and killed by the kernel should the test process die.
func (e *e2eEnv) start(name, bin, addr string, args ...string) *e2eProc {
	t := e.t
	t.Helper()
	p := &e2eProc{name: name, bin: bin, base: "http://" + addr, logPath: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Dir(p.logPath)
	cmd.Stdout, cmd.Stderr = logf, logf // an *os.File: no copying goroutines
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	require.NoError(t, logf.Close())
	require.NoErrorf(t, err, "start %s", name)
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	e.procs = append(e.procs, p)
	return p
}

// wait polls cond until it holds; it fails the test at the deadline or when
// a server exits.
func (e *e2eEnv) wait(what string, cond func() bool) {
	t := e.t
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, p := range e.procs {
			select {
			case <-p.exited:
				t.Fatalf("%s exited (%v) while waiting for %s", p.name, p.err, what)
			default:
			}
		}
		if time.Now().After(e.deadline) {
			t.Fatalf("timed out waiting for %s (the test's budget is %v)", what, e2eBudget)
		}
		<-tick.C
	}
}

// waitAlert waits for a notification of the alert with the given status
// among the notifications from index from on, and returns it.
func (e *e2eEnv) waitAlert(from int, name, status string) e2eEvent {
	e.t.Helper()
	var ev e2eEvent
	e.wait(fmt.Sprintf("the webhook to receive %s %s", name, status), func() bool {
		var ok bool
		ev, _, ok = e.hook.find(from, name, status)
		return ok
	})
	return ev
}

// checkAlert requires the exact labels the shipped rules give the urgent
// first reply alerts, and annotations that rendered: team is the on-call
// team (support), helpdesk_team the helpdesk team of the series (all, the
// whole helpdesk: the priority breakdown). The at-risk alert is from a
// gauge with a channel label; the new-breach page is from the outcome
// counter, which has outcome and no channel.
func (e *e2eEnv) checkAlert(ev e2eEvent, name, instance string) {
	t := e.t
	t.Helper()
	want := map[string]string{
		"alertname":     name,
		"sla":           "first_reply",
		"policy":        "all",
		"priority":      "urgent",
		"severity":      "critical",
		"category":      "business",
		"team":          "support",
		"helpdesk_team": "all",
		"job":           e2eJob,
		"instance":      instance,
	}
	switch name {
	case e2eAtRisk:
		want["channel"] = "all"
	case e2eBreached:
		want["outcome"] = "breached"
	default:
		t.Fatalf("checkAlert: no labels known for %s", name)
	}
	require.Equalf(t, want, ev.Labels, "labels of %s", ev)
	require.NotEmptyf(t, ev.Annotations["summary"], "summary of %s", ev)
	require.Equalf(t, e2eRunbookBase+strings.ToLower(name), ev.Annotations["runbook_url"], "runbook_url of %s", ev)
	for k, v := range ev.Annotations {
		require.NotContainsf(t, v, "error expanding template", "annotation %s of %s", k, ev)
	}
}

// query returns the value of an instant query whose result is one
// sample; false on any error or another number of samples.
func (e *e2eEnv) query(q string) (string, bool) {
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"` // [time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if !e.getJSON(e.prom.base+"/api/v1/query?query="+url.QueryEscape(q), &r) || len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
		return "", false
	}
	v, ok := r.Data.Result[0].Value[1].(string)
	return v, ok
}

// waitRuleInactive waits until Prometheus has evaluated the alerting rule
// name at n different times after since, and fails the test should the
// rule be anything but inactive, with no alerts, at any look until then.
func (e *e2eEnv) waitRuleInactive(name string, since time.Time, n int) {
	t := e.t
	t.Helper()
	seen := map[time.Time]bool{}
	e.wait(fmt.Sprintf("Prometheus to evaluate %s %d times", name, n), func() bool {
		var rs struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string            `json:"name"`
						State          string            `json:"state"`
						Alerts         []json.RawMessage `json:"alerts"`
						LastEvaluation time.Time         `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if !e.getJSON(e.prom.base+"/api/v1/rules?type=alert", &rs) {
			return false
		}
		found := false
		for _, g := range rs.Data.Groups {
			for _, r := range g.Rules {
				if r.Name != name {
					continue
				}
				found = true
				require.Equalf(t, "inactive", r.State, "%s evaluated at %s: state (alerts %s)", name, r.LastEvaluation.Format(time.RFC3339Nano), r.Alerts)
				require.Emptyf(t, r.Alerts, "%s evaluated at %s: alerts", name, r.LastEvaluation.Format(time.RFC3339Nano))
				if r.LastEvaluation.After(since) {
					seen[r.LastEvaluation] = true
				}
			}
		}
		require.Truef(t, found, "Prometheus has no alerting rule %s", name)
		return len(seen) >= n
	})
}

func (e *e2eEnv) status(u string) int {
	resp, err := e.client.Get(u)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// getJSON decodes the JSON body of a successful GET into v; false on any
// error.
func (e *e2eEnv) getJSON(u string, v any) bool {
	resp, err := e.client.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}

func (e *e2eEnv) getText(u string) string {
	resp, err := e.client.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.Status + " " + string(b)
}

// dumpOnFailure logs what the webhook received, what Prometheus and
// Alertmanager think is firing, and the tails of their logs.
func (e *e2eEnv) dumpOnFailure() {
	t := e.t
	if !t.Failed() {
		return
	}
	var b strings.Builder
	for _, ev := range e.hook.snapshot() {
		fmt.Fprintf(&b, "  %s\n", ev)
	}
	for _, err := range e.hook.errors() {
		fmt.Fprintf(&b, "  error: %s\n", err)
	}
	t.Logf("webhook notifications (%d):\n%s", e.hook.len(), b.String())
	t.Logf("Prometheus /api/v1/alerts: %s", e.getText(e.prom.base+"/api/v1/alerts"))
	t.Logf("Prometheus /api/v1/targets: %s", e.getText(e.prom.base+"/api/v1/targets?state=active"))
	t.Logf("Alertmanager /api/v2/alerts: %s", e.getText(e.am.base+"/api/v2/alerts"))
	for _, p := range e.procs {
		t.Logf("%s (%s, %s) log, last lines:\n%s", p.name, p.bin, e2eVersion(p.bin), e2eTail(p.logPath, 40))
	}
}

// e2eWebhook is the Alertmanager webhook receiver: it records every alert
// of every notification, in the order received.
type e2eWebhook struct {
	mu     sync.Mutex
	events []e2eEvent
	n      int // notifications
	errs   []string
}

// e2eEvent is one alert in one webhook notification.
type e2eEvent struct {
	Index        int // in the order received
	Notification int
	Received     time.Time
	Status       string // of the alert: firing or resolved
	Labels       map[string]string
	Annotations  map[string]string
}

func (ev e2eEvent) String() string {
	return fmt.Sprintf("#%d (notification %d, %s) %s %s %v", ev.Index, ev.Notification, ev.Received.Format("15:04:05.000"), ev.Labels["alertname"], ev.Status, ev.Labels)
}

func (w *e2eWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var msg struct {
		Version string `json:"version"`
		Status  string `json:"status"`
		Alerts  []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/alerts":
		w.errs = append(w.errs, fmt.Sprintf("unexpected request %s %s", r.Method, r.URL.Path))
		rw.WriteHeader(http.StatusNotFound)
		return
	case err != nil:
		w.errs = append(w.errs, fmt.Sprintf("undecodable notification: %v", err))
		rw.WriteHeader(http.StatusBadRequest)
		return
	case msg.Version != "4":
		w.errs = append(w.errs, fmt.Sprintf("webhook payload version %q, want 4", msg.Version))
	}
	w.n++
	for _, a := range msg.Alerts {
		w.events = append(w.events, e2eEvent{
			Index: len(w.events), Notification: w.n, Received: now,
			Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
		})
	}
	rw.WriteHeader(http.StatusOK)
}

// find returns the first event from index from on of the alert with the
// status ("" for any).
func (w *e2eWebhook) find(from int, name, status string) (e2eEvent, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := from; i < len(w.events); i++ {
		ev := w.events[i]
		if ev.Labels["alertname"] == name && (status == "" || ev.Status == status) {
			return ev, i, true
		}
	}
	return e2eEvent{}, 0, false
}

func (w *e2eWebhook) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

func (w *e2eWebhook) snapshot() []e2eEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

func (w *e2eWebhook) errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// e2eShortRules copies the rule file from to the file to with every
// alerting rule's `for:` set to e2eFor and the range of e2eBreached set to
// e2eBreachRange, editing the parsed YAML (comments
// and everything else stay as they are). It returns to and the number of
// alerting rules.
func e2eShortRules(t *testing.T, from, to string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoErrorf(t, yaml.Unmarshal(b, &doc), "parse %s", from)
	require.Equal(t, yaml.DocumentNode, doc.Kind)
	groups := e2eField(doc.Content[0], "groups")
	require.NotNilf(t, groups, "%s: no groups", from)
	n, breachRules := 0, 0
	for _, g := range groups.Content {
		rules := e2eField(g, "rules")
		require.NotNilf(t, rules, "%s: a group without rules", from)
		for _, r := range rules.Content {
			alert := e2eField(r, "alert")
			if alert == nil {
				continue // a recording rule
			}
			n++
			if alert.Value == e2eBreached {
				expr := e2eField(r, "expr")
				require.NotNilf(t, expr, "%s: %s has no expr", from, e2eBreached)
				require.Equalf(t, 1, strings.Count(expr.Value, e2eBreachRangeIn), "%s: %s: the range %s, once, in %s", from, e2eBreached, e2eBreachRangeIn, expr.Value)
				expr.SetString(strings.Replace(expr.Value, e2eBreachRangeIn, "["+e2eBreachRange.String()+"]", 1))
				breachRules++
			}
			if f := e2eField(r, "for"); f != nil {
				f.SetString(e2eFor)
				continue
			}
			var k, v yaml.Node
			k.SetString("for")
			v.SetString(e2eFor)
			r.Content = append(r.Content, &k, &v)
		}
	}
	require.Positivef(t, n, "%s: no alerting rules", from)
	require.Equalf(t, 1, breachRules, "%s: rules of %s", from, e2eBreached)
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, out, 0o600))
	return to, n
}

// e2eField returns the value of key in a YAML mapping node, or nil.
func e2eField(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func e2eWriteYAML(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func e2eVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// e2eTail returns the last n lines of a file.
func e2eTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
