// Package httpapi serves the aggregator's HTTP endpoints: /metrics,
// /healthz, /readyz and the JSON API under /api/v1/. Every KPI it returns
// comes from a kpi.Snapshot; it never touches the state itself.
package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// Source gives the handlers what they read.
type Source interface {
	// Latest returns the most recently published snapshot, without asking
	// the state's owner for anything.
	Latest() *kpi.Snapshot
	// Fresh returns a snapshot including everything applied so far.
	Fresh(ctx context.Context) *kpi.Snapshot
	// Ready reports whether state is restored and the stream caught up.
	Ready() bool
	// AtRisk lists up to limit open tickets at risk or in breach of an
	// SLA, soonest deadline first, and the time (Unix ns) it was taken.
	AtRisk(ctx context.Context, limit int) ([]kpi.AtRisk, int64, error)
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
			http.Error(w, "not ready: restoring state or catching up with the stream", http.StatusServiceUnavailable)
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

// kpiSeries is one breakdown series of /api/v1/kpis. Its field names are
// the metric names without the helpdesk_ prefix; ratios and averages are
// omitted while they have no samples, as in /metrics.
type kpiSeries struct {
	Channel  string `json:"channel"`
	Priority string `json:"priority"`
	Team     string `json:"team"`

	TicketsOpened   int64 `json:"tickets_opened"`
	TicketsResolved int64 `json:"tickets_resolved"`
	TicketsReopened int64 `json:"tickets_reopened"`
	OpenTickets     int64 `json:"open_tickets"`

	FirstReplies          int64              `json:"first_replies"`
	FirstReplyTime        map[string]float64 `json:"first_reply_time_seconds,omitempty"`
	FirstReplyTimeAvg     *float64           `json:"first_reply_time_avg_seconds,omitempty"`
	ResolutionTime        map[string]float64 `json:"resolution_time_seconds,omitempty"`
	ResolutionTimeAvg     *float64           `json:"resolution_time_avg_seconds,omitempty"`
	FCRRatio              *float64           `json:"fcr_ratio,omitempty"`
	ReopenRatio           *float64           `json:"reopen_ratio,omitempty"`
	HandleTimeAvg         *float64           `json:"handle_time_avg_seconds,omitempty"`
	CSATResponses         int64              `json:"csat_responses"`
	CSATSatisfiedResponse int64              `json:"csat_satisfied_responses"`
	CSATRatio             *float64           `json:"csat_ratio,omitempty"`
	CSATScoreAvg          *float64           `json:"csat_score_avg,omitempty"`
	NPSResponses          int64              `json:"nps_responses"`
	NPSPromoters          int64              `json:"nps_promoters"`
	NPSDetractors         int64              `json:"nps_detractors"`
	NPSScore              *float64           `json:"nps_score,omitempty"`
	CESResponses          int64              `json:"ces_responses"`
	CESScoreAvg           *float64           `json:"ces_score_avg,omitempty"`
	CESEasyRatio          *float64           `json:"ces_easy_ratio,omitempty"`
}

type kpiResponse struct {
	Window string      `json:"window"`
	Time   time.Time   `json:"time"`
	Series []kpiSeries `json:"series"`
}

func opt(f func() (float64, bool)) *float64 {
	if v, ok := f(); ok {
		return &v
	}
	return nil
}

func quantileMap(qs, values []float64) map[string]float64 {
	if values == nil {
		return nil
	}
	m := make(map[string]float64, len(qs))
	for i, q := range qs {
		m[strconv.FormatFloat(q, 'f', -1, 64)] = values[i]
	}
	return m
}

func serveKPIs(w http.ResponseWriter, r *http.Request, s *kpi.Snapshot) {
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
	resp := kpiResponse{Window: name, Time: time.Unix(0, s.Time).UTC(), Series: make([]kpiSeries, len(s.Cells))}
	for i, c := range s.Cells {
		v := &win.Cells[i]
		resp.Series[i] = kpiSeries{
			Channel: c.Channel, Priority: c.Priority, Team: c.Team,
			TicketsOpened: v.Opened, TicketsResolved: v.Resolved, TicketsReopened: v.Reopened,
			OpenTickets:       s.Open[i],
			FirstReplies:      v.FirstReplies,
			FirstReplyTime:    quantileMap(s.Quantiles, v.FirstReplyQuantiles),
			FirstReplyTimeAvg: opt(v.FirstReplyAvg),
			ResolutionTime:    quantileMap(s.Quantiles, v.ResolutionQuantiles),
			ResolutionTimeAvg: opt(v.ResolutionAvg),
			FCRRatio:          opt(v.FCRRatio), ReopenRatio: opt(v.ReopenRatio), HandleTimeAvg: opt(v.HandleAvg),
			CSATResponses: v.CSATResponses, CSATSatisfiedResponse: v.CSATSatisfied,
			CSATRatio: opt(v.CSATRatio), CSATScoreAvg: opt(v.CSATAvg),
			NPSResponses: v.NPSResponses, NPSPromoters: v.NPSPromoters, NPSDetractors: v.NPSDetractors, NPSScore: opt(v.NPS),
			CESResponses: v.CESResponses, CESScoreAvg: opt(v.CESAvg), CESEasyRatio: opt(v.CESEasyRatio),
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// Limits of /api/v1/sla/at-risk?limit=.
const (
	defaultAtRiskLimit = 100
	maxAtRiskLimit     = 10_000
)

type atRiskTicket struct {
	TicketID    string    `json:"ticket_id"`
	SLA         string    `json:"sla"`
	Priority    string    `json:"priority"`
	Channel     string    `json:"channel"`
	Team        string    `json:"team"`
	Status      string    `json:"status"` // at_risk or breached
	Deadline    time.Time `json:"deadline"`
	SecondsLeft float64   `json:"seconds_left"` // negative when overdue
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
	list, now, err := src.AtRisk(r.Context(), limit)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	out := struct {
		Time    time.Time      `json:"time"`
		Tickets []atRiskTicket `json:"tickets"`
	}{Time: time.Unix(0, now).UTC(), Tickets: make([]atRiskTicket, len(list))}
	for i, t := range list {
		out.Tickets[i] = atRiskTicket{TicketID: t.TicketID, SLA: t.SLA, Priority: t.Priority, Channel: t.Channel,
			Team: t.Team, Status: t.Status, Deadline: time.Unix(0, t.Deadline).UTC(), SecondsLeft: float64(t.Deadline-now) / 1e9}
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
