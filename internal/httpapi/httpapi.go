// Package httpapi serves the aggregator's HTTP endpoints: /metrics,
// /healthz, /readyz and the JSON API under /api/v1/. Every KPI it returns
// comes from a kpi.View; it never touches the state itself.
package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Source gives the handlers what they read.
type Source interface {
	// Latest returns the most recently published view, without asking
	// the state's owner for anything.
	Latest() *kpi.View
	// Fresh returns a view including everything applied so far.
	Fresh(ctx context.Context) *kpi.View
	// Ready reports whether state is restored and the stream caught up.
	Ready() bool
	// AtRisk lists up to limit SLA clocks of open tickets at risk or in
	// breach that the filter keeps, at risk first, soonest deadline
	// first, with the totals per state and the time (Unix ns) it was
	// taken.
	AtRisk(ctx context.Context, f kpi.AtRiskFilter, limit int) (kpi.AtRiskList, int64, error)
}

// Options are the limits of the handlers; a zero field takes its default.
type Options struct {
	// MaxRenders is how many /metrics renderings may run at once
	// (default 2).
	MaxRenders int
	// APIRate and APIBurst are the JSON API requests per second and the
	// burst allowed to each client (defaults 20 and 40).
	APIRate  rate.Limit
	APIBurst int
	// APIClients is how many clients the JSON API tracks a budget for
	// (default 10,000).
	APIClients int
	// Phase, when set, is what /readyz says the program is doing while
	// the Source is not ready (instead of a generic reason).
	Phase *Phase
}

// Defaults of Options, and the ceiling of the JSON API across clients:
// every request of it asks the state's owner for work, so the sum is
// bounded too, well above what one client may use so that no one client
// can reach it.
const (
	defaultAPIRate    = 20
	defaultAPIBurst   = 40
	defaultAPIClients = 10_000
	apiTotalRate      = 100
	apiTotalBurst     = 200
)

// Handler returns the mux of every endpoint. gatherer is what /metrics
// exposes; its collectors should read src.Latest, as /metrics never asks
// src for a fresh snapshot.
func Handler(src Source, gatherer prometheus.Gatherer, opts Options) http.Handler {
	if opts.APIRate <= 0 {
		opts.APIRate = defaultAPIRate
	}
	if opts.APIBurst <= 0 {
		opts.APIBurst = defaultAPIBurst
	}
	if opts.APIClients <= 0 {
		opts.APIClients = defaultAPIClients
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", newScrapes(src.Latest, gatherer, opts.MaxRenders))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !src.Ready() {
			notReady(w, opts.Phase)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	// The JSON API does real work per request: rate-limited and bounded.
	l := &limiter{
		clients: newClientLimits(opts.APIRate, opts.APIBurst, opts.APIClients),
		total:   rate.NewLimiter(apiTotalRate, apiTotalBurst),
	}
	mux.Handle("GET /api/v1/kpis", l.limited(func(w http.ResponseWriter, r *http.Request) {
		serveKPIs(w, r, src.Fresh(r.Context()))
	}))
	mux.Handle("GET /api/v1/sla/at-risk", l.limited(func(w http.ResponseWriter, r *http.Request) {
		serveAtRisk(w, r, src)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<html><head><title>Helpdesk KPI aggregator</title></head><body><h1>Helpdesk KPI aggregator</h1><ul>` +
			`<li><a href="/metrics">/metrics</a></li><li><a href="/api/v1/kpis?window=1h">/api/v1/kpis?window=1h</a></li>` +
			`<li><a href="/api/v1/sla/at-risk">/api/v1/sla/at-risk</a></li><li><a href="/healthz">/healthz</a></li><li><a href="/readyz">/readyz</a></li></ul></body></html>`))
	})
	return mux
}

// maxQueryLen is the longest query string the JSON API takes.
const maxQueryLen = 1024

// limiter holds the JSON API's budgets: one per client and one in total.
type limiter struct {
	clients *clientLimits
	total   *rate.Limiter
}

// limited refuses requests over the client's rate or the total rate (429
// with Retry-After), with an oversized query (414), or with a body (413).
func (l *limiter) limited(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case len(r.URL.RawQuery) > maxQueryLen:
			writeJSON(w, http.StatusRequestURITooLong, map[string]string{"error": "query string too long"})
			return
		case r.ContentLength > 0:
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "GET requests take no body"})
			return
		}
		now := time.Now()
		ok, wait := l.clients.allow(clientKey(r.RemoteAddr), now)
		if ok && !l.total.AllowN(now, 1) {
			ok, wait = false, time.Second
		}
		if !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many API requests; slow down"})
			return
		}
		h(w, r)
	})
}

// kpiSeries is one breakdown series of /api/v1/kpis: its labels, then the
// KPIs of kpi.Catalog in catalog order, keyed by their metric names
// without the helpdesk_ prefix, with open_tickets (which has no window)
// right after tickets_reopened, where it has always been. Ratios,
// averages and quantiles are omitted while they have no samples, as in
// /metrics.
type kpiSeries struct {
	cell      kpi.Cell
	open      int64
	byStatus  map[string]int64 // open tickets by status
	values    *kpi.Values
	catalog   []kpi.Windowed
	quantiles []string // label values of the view's quantiles
}

// openTicketsAfter is the catalog KPI that open_tickets follows in a
// series; without it in the catalog, open_tickets comes last.
const openTicketsAfter = "helpdesk_tickets_reopened"

// MarshalJSON writes the series' members in a fixed order, which a struct
// with a field per KPI gave before the catalog, and a map would not.
func (s kpiSeries) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	var err error
	member := func(key string, v any) {
		if err != nil {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		var k, data []byte
		if k, err = json.Marshal(key); err == nil {
			data, err = json.Marshal(v)
		}
		b = append(append(append(b, k...), ':'), data...)
	}
	member("channel", s.cell.Channel)
	member("priority", s.cell.Priority)
	member("team", s.cell.Team)
	openWritten := false
	for _, k := range s.catalog {
		key := strings.TrimPrefix(k.Name, "helpdesk_")
		switch k.Kind {
		case kpi.CountValue:
			member(key, k.Count(s.values))
		case kpi.RatioValue:
			if x, ok := k.Ratio(s.values); ok {
				member(key, x)
			}
		case kpi.QuantileValues:
			if m := quantileMap(s.quantiles, k.Quantiles(s.values)); len(m) > 0 {
				member(key, m)
			}
		}
		if k.Name == openTicketsAfter {
			member("open_tickets", s.open)
			member("open_tickets_by_status", s.byStatus)
			openWritten = true
		}
	}
	if !openWritten {
		member("open_tickets", s.open)
		member("open_tickets_by_status", s.byStatus)
	}
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

type kpiResponse struct {
	Window string      `json:"window"`
	Time   time.Time   `json:"time"`
	Series []kpiSeries `json:"series"`
	// SLA holds the SLA series of /metrics for this window, by SLA and
	// SLA cell (the breakdown rule over policy, priority, channel, team).
	SLA []slaSeries `json:"sla"`
}

// slaSeries is one SLA of one SLA cell: the values of the helpdesk_sla_*
// gauges, named without the helpdesk_sla_ prefix; ratios and the next
// breach are omitted while they have no value, as in /metrics.
type slaSeries struct {
	SLA               string   `json:"sla"`
	Policy            string   `json:"policy"`
	Priority          string   `json:"priority"`
	Channel           string   `json:"channel"`
	Team              string   `json:"team"`
	Achieved          int64    `json:"achieved"`
	Breached          int64    `json:"breached"`
	ComplianceRatio   *float64 `json:"compliance_ratio,omitempty"`
	AtRiskTickets     int64    `json:"at_risk_tickets"`
	BreachedOpen      int64    `json:"breached_open_tickets"`
	PausedTickets     int64    `json:"paused_tickets"`
	NextBreachSeconds *float64 `json:"next_breach_seconds,omitempty"`
}

func slaSeriesOf(s *kpi.View, win *kpi.WindowValues) []slaSeries {
	var out []slaSeries
	st := &s.SLA
	for k := range sla.NumKinds {
		for i, c := range s.SLACells {
			v := &win.SLA[i]
			x := slaSeries{SLA: k.String(), Policy: c.Policy, Priority: c.Priority, Channel: c.Channel, Team: c.Team,
				Achieved: v.Achieved[k], Breached: v.Breached[k], AtRiskTickets: st.AtRisk[k][i],
				BreachedOpen: st.BreachedOpen[k][i], PausedTickets: st.Paused[k][i]}
			if r, ok := v.Compliance(k); ok {
				x.ComplianceRatio = &r
			}
			if st.HasNextBreach[k][i] {
				secs := float64(st.NextBreach[k][i]-s.Time) / 1e9
				x.NextBreachSeconds = &secs
			}
			out = append(out, x)
		}
	}
	return out
}

// quantileMap pairs quantile labels with values; JSON sorts its keys.
func quantileMap(labels []string, values []float64) map[string]float64 {
	if values == nil {
		return nil
	}
	m := make(map[string]float64, len(labels))
	for i, q := range labels {
		m[q] = values[i]
	}
	return m
}

func serveKPIs(w http.ResponseWriter, r *http.Request, s *kpi.View) {
	name := r.URL.Query().Get("window")
	var win *kpi.WindowValues
	names := make([]string, 0, len(s.Windows))
	for i := range s.Windows {
		names = append(names, s.Windows[i].Name)
		if s.Windows[i].Name == name {
			win = &s.Windows[i]
		}
	}
	if win == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error": "unknown or missing window " + strconv.Quote(name) + ": use ?window= with one of the configured windows", "windows": names})
		return
	}
	catalog := kpi.Catalog()
	quantiles := make([]string, len(s.Quantiles))
	for i, q := range s.Quantiles {
		quantiles[i] = strconv.FormatFloat(q, 'f', -1, 64)
	}
	resp := kpiResponse{Window: name, Time: time.Unix(0, s.Time).UTC(), Series: make([]kpiSeries, len(s.Cells)), SLA: slaSeriesOf(s, win)}
	for i, c := range s.Cells {
		byStatus := make(map[string]int64, events.NumStatuses)
		for st := range events.Status(events.NumStatuses) {
			byStatus[st.String()] = s.OpenByStatus[st][i]
		}
		resp.Series[i] = kpiSeries{cell: c, open: s.Open[i], byStatus: byStatus, values: &win.Cells[i], catalog: catalog, quantiles: quantiles}
	}
	writeJSON(w, http.StatusOK, resp)
}

// Limits of /api/v1/sla/at-risk?limit=.
const (
	defaultAtRiskLimit = 100
	maxAtRiskLimit     = 10_000
)

type atRiskTicket struct {
	TicketID string `json:"ticket_id"`
	SLA      string `json:"sla"`
	Policy   string `json:"policy"`
	Priority string `json:"priority"`
	Channel  string `json:"channel"`
	Team     string `json:"team"`
	State    string `json:"state"`  // at_risk or breached
	Status   string `json:"status"` // the same as state, as API v1 named it
	// TicketStatus is the ticket's status: open, pending or on_hold.
	TicketStatus  string    `json:"ticket_status"`
	Deadline      time.Time `json:"deadline"`
	SecondsLeft   float64   `json:"seconds_left"`   // negative when overdue
	PausedSeconds int64     `json:"paused_seconds"` // how long the clock stood still so far
}

// atRiskFilter reads the filters of /api/v1/sla/at-risk, or says which
// one is wrong and what it takes.
func atRiskFilter(q url.Values) (kpi.AtRiskFilter, string) {
	f := kpi.AtRiskFilter{State: q.Get("state"), SLA: q.Get("sla"), Priority: q.Get("priority"), Team: q.Get("team")}
	oneOf := func(name, v string, allowed ...string) string {
		if v == "" || slices.Contains(allowed, v) {
			return ""
		}
		return name + " must be one of " + strings.Join(allowed, ", ")
	}
	var kinds []string
	for k := range sla.NumKinds {
		kinds = append(kinds, k.String())
	}
	var pris []string
	for p := range events.Priority(events.NumPriorities) {
		pris = append(pris, p.String())
	}
	return f, cmp.Or(oneOf("state", f.State, "at_risk", "breached"), oneOf("sla", f.SLA, kinds...), oneOf("priority", f.Priority, pris...))
}

func serveAtRisk(w http.ResponseWriter, r *http.Request, src Source) {
	limit := defaultAtRiskLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAtRiskLimit {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a whole number from 1 to " + strconv.Itoa(maxAtRiskLimit)})
			return
		}
		limit = n
	}
	f, bad := atRiskFilter(r.URL.Query())
	if bad != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": bad})
		return
	}
	list, now, err := src.AtRisk(r.Context(), f, limit)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	type totals struct {
		AtRisk   int `json:"at_risk"`
		Breached int `json:"breached"`
	}
	out := struct {
		Time    time.Time      `json:"time"`
		Totals  totals         `json:"totals"`
		Tickets []atRiskTicket `json:"tickets"`
	}{Time: time.Unix(0, now).UTC(), Totals: totals{list.AtRisk, list.Breached}, Tickets: make([]atRiskTicket, len(list.Tickets))}
	for i, t := range list.Tickets {
		out.Tickets[i] = atRiskTicket{TicketID: t.TicketID, SLA: t.SLA, Policy: t.Policy, Priority: t.Priority, Channel: t.Channel,
			Team: t.Team, State: t.State, Status: t.State, TicketStatus: t.Status, Deadline: time.Unix(0, t.Deadline).UTC(),
			SecondsLeft: float64(t.Deadline-now) / 1e9, PausedSeconds: t.PausedSeconds}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
