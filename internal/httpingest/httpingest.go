// Package httpingest serves HTTP ingest (contract section 4, v2): POST
// /api/v1/events for publishers without a NATS client, and POST
// /api/v1/webhooks/{source} for the helpdesks themselves. Every event is
// validated by the same decoder the consumer uses and published to
// JetStream with Nats-Msg-Id set to its id; a request is answered only
// once JetStream has acknowledged every accepted event, so a 200 means
// durable, and a retried request is a duplicate at JetStream.
//
// It owns no aggregation state: what it publishes reaches the aggregator
// through the stream, like any other publisher's events.
package httpingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/helpdesk-kpi/aggregator/internal/webhook"
)

// Config is what the endpoints need. A zero limit takes its default.
type Config struct {
	// Tokens are the bearer tokens /api/v1/events accepts; without any,
	// the endpoint is off (404).
	Tokens [][]byte
	// Webhooks holds, by source name, the sources that are on: each
	// with its secret and label table.
	Webhooks map[string]Webhook
	// MaxBody is the largest request body, after decompression
	// (default 8 MiB).
	MaxBody int64
	// MaxEvents is the most events one request may carry (default
	// 10,000).
	MaxEvents int
	// Rate and Burst limit the requests per second of each source
	// ("api" and each webhook) (default 100 and 200).
	Rate  float64
	Burst int
	// SubjectPrefix is where events go: the prefix and the event type
	// (default "helpdesk.events.").
	SubjectPrefix string
	// DeadLetterSubject receives webhook payloads that cannot be read.
	DeadLetterSubject string
	// MaxClockSkew is how far ahead of now an event may lie.
	MaxClockSkew time.Duration
	// PublishTimeout bounds the wait for JetStream's acknowledgements
	// (default 10s).
	PublishTimeout time.Duration
}

// Webhook is one webhook source that is on: its Source (one of
// webhook.All, under its own name), secret and label table.
type Webhook struct {
	Source webhook.Source
	Secret []byte
	Labels webhook.Labels
}

// Defaults of Config.
const (
	defaultMaxBody        = 8 << 20
	defaultMaxEvents      = 10_000
	defaultRate           = 100
	defaultBurst          = 200
	defaultSubjectPrefix  = "helpdesk.events."
	defaultPublishTimeout = 10 * time.Second
)

// Publisher publishes messages to JetStream.
type Publisher interface {
	// Publish publishes msgs and returns, once every one is
	// acknowledged, which of them JetStream dropped as duplicates of an
	// earlier Nats-Msg-Id. An error means some may not be stored.
	Publish(ctx context.Context, msgs []*nats.Msg) (duplicate []bool, err error)
}

// Handler serves the ingest endpoints.
type Handler struct {
	cfg     Config
	pub     Publisher
	log     zerolog.Logger
	now     func() time.Time
	m       *metrics
	limits  map[string]*rate.Limiter
	warn    *rateLimitedLog
	sources map[string]webhook.Source // every known source, on or off
}

// New returns the handler; call Register to mount it.
func New(cfg Config, pub Publisher, log zerolog.Logger, reg prometheus.Registerer, now func() time.Time) (*Handler, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = defaultMaxEvents
	}
	if cfg.Rate <= 0 {
		cfg.Rate = defaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = defaultBurst
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = defaultSubjectPrefix
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = defaultPublishTimeout
	}
	h := &Handler{cfg: cfg, pub: pub, log: log, now: now, limits: map[string]*rate.Limiter{},
		warn: &rateLimitedLog{every: 10 * time.Second}, sources: map[string]webhook.Source{}}
	names := []string{SourceAPI}
	for _, s := range webhook.All() {
		h.sources[s.Name()] = s
		names = append(names, s.Name())
	}
	for name, hook := range cfg.Webhooks {
		if _, ok := h.sources[name]; !ok {
			return nil, fmt.Errorf("ingest.webhooks.%s: unknown source; use zendesk, chatwoot, zammad, jira or freshdesk", name)
		}
		if hook.Source == nil || len(hook.Secret) == 0 {
			return nil, fmt.Errorf("BUG: webhook %s configured without its source or secret", name)
		}
	}
	for _, n := range names {
		h.limits[n] = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	m, err := newMetrics(reg, names)
	if err != nil {
		return nil, err
	}
	h.m = m
	return h, nil
}

// SourceAPI is the source label of /api/v1/events.
const SourceAPI = "api"

// Register mounts the endpoints on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/events", h.serveEvents)
	mux.HandleFunc("POST /api/v1/webhooks/{source}", h.serveWebhook)
}

// Request results, the values of the result label.
const (
	resultAccepted     = "accepted"     // 200: every event valid and stored (or a duplicate)
	resultPartial      = "partial"      // 200: some events rejected, the others stored
	resultUnmapped     = "unmapped"     // 202: a webhook payload that maps to no event
	resultBadRequest   = "bad_request"  // 400: the body cannot be read (dead-lettered for webhooks)
	resultUnauthorized = "unauthorized" // 401: no or wrong token, wrong signature
	resultOff          = "off"          // 404: the endpoint or source is not configured
	resultTooLarge     = "too_large"    // 413
	resultRateLimited  = "rate_limited" // 429
	resultUnavailable  = "unavailable"  // 503: JetStream did not acknowledge
)

func results() []string {
	return []string{resultAccepted, resultPartial, resultUnmapped, resultBadRequest, resultUnauthorized,
		resultOff, resultTooLarge, resultRateLimited, resultUnavailable}
}

// limited answers 429 when source is over its rate; it reports whether
// the request may go on.
func (h *Handler) limited(w http.ResponseWriter, source string) bool {
	r := h.limits[source].Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)+1))
		h.answer(w, source, resultRateLimited, http.StatusTooManyRequests, errorBody("too many requests; retry after the Retry-After seconds"))
		return false
	}
	return true
}

// answer writes a JSON response and counts the request.
func (h *Handler) answer(w http.ResponseWriter, source, result string, status int, body any) {
	h.m.requests.WithLabelValues(source, result).Inc()
	writeJSON(w, status, body)
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

// errText renders err on one line: joined errors ("unauthorized" and its
// reason) are separated by ": ".
func errText(err error) string { return strings.ReplaceAll(err.Error(), "\n", ": ") }

// bodyError classifies an error reading a request body.
func bodyError(err error) (status int, result, msg string) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge, resultTooLarge, err.Error()
	}
	return http.StatusBadRequest, resultBadRequest, err.Error()
}
