package httpingest

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is the answer to a request that reached publishing.
type outcome struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []rejection `json:"rejected"`
}

// rejection is one event refused, by its index in the request.
type rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type metrics struct {
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, sources []string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helpdesk_ingest_requests_total",
			Help: "HTTP ingest requests (POST /api/v1/events is source api; webhooks by helpdesk), by result.",
		}, []string{"source", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helpdesk_ingest_events_total",
			Help: "Events received over HTTP ingest: accepted (stored), duplicate (JetStream had the id), rejected (invalid).",
		}, []string{"source", "result"}),
	}
	for _, s := range sources {
		for _, r := range results() {
			m.requests.WithLabelValues(s, r)
		}
		for _, r := range []string{"accepted", "duplicate", "rejected"} {
			m.events.WithLabelValues(s, r)
		}
	}
	for _, c := range []prometheus.Collector{m.requests, m.events} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// rateLimitedLog lets a warning through at most once per every; mu guards
// last.
type rateLimitedLog struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (l *rateLimitedLog) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < l.every {
		return false
	}
	l.last = now
	return true
}

// warn logs a rejected request, at most every l.every.
func (h *Handler) warnf(source, result string, err error) {
	if !h.warn.allow(h.now()) {
		return
	}
	h.log.Warn().Str("source", source).Str("result", result).Err(err).
		Msg("HTTP ingest request refused (logged at most every 10s; helpdesk_ingest_requests_total counts each)")
}
