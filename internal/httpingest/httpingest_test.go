package httpingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
	"github.com/helpdesk-kpi/aggregator/internal/webhook"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type env struct {
	t      testing.TB
	srv    *httptest.Server
	js     jetstream.JetStream
	stream jetstream.Stream
	dl     jetstream.Stream
	reg    *prometheus.Registry
}

// newEnv runs the handler over a real JetStream, with streams for the
// events and the dead letters.
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, cfg, natstest.Start(t))
}

// newEnvOn is newEnv on a given server.
func newEnvOn(t testing.TB, cfg Config, ns *natstest.Server) *env {
	t.Helper()
	_, js := ns.Connect(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
	require.NoError(t, err)
	dl, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_DEADLETTER", Subjects: []string{"helpdesk.deadletter"}})
	require.NoError(t, err)
	if cfg.DeadLetterSubject == "" {
		cfg.DeadLetterSubject = "helpdesk.deadletter"
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	reg := prometheus.NewRegistry()
	h, err := New(cfg, JetStream{JS: js}, zerolog.Nop(), reg, func() time.Time { return testNow })
	require.NoError(t, err)
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, js: js, stream: stream, dl: dl, reg: reg}
}

func (e *env) post(path, token string, body []byte, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(raw, &out), "%s", raw)
	return resp.StatusCode, out
}

func (e *env) messages() uint64 {
	e.t.Helper()
	info, err := e.stream.Info(context.Background())
	require.NoError(e.t, err)
	return info.State.Msgs
}

func (e *env) requests(source, result string) float64 {
	return testutil.ToFloat64(mustVec(e.t, e.reg, "helpdesk_ingest_requests_total").WithLabelValues(source, result))
}

func mustVec(t testing.TB, reg *prometheus.Registry, name string) *prometheus.CounterVec {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name}, []string{"source", "result"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var lv [2]string
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" {
					lv[0] = l.GetValue()
				} else {
					lv[1] = l.GetValue()
				}
			}
			vec.WithLabelValues(lv[0], lv[1]).Add(m.GetCounter().GetValue())
		}
	}
	return vec
}

func opened(id, ticket string) string {
	return fmt.Sprintf(`{"id":%q,"type":"ticket.opened","ticket_id":%q,"occurred_at":"2026-11-23T11:00:00Z","channel":"email"}`, id, ticket)
}

func TestEventsEndpoint(t *testing.T) {
	e := newEnv(t, Config{Tokens: [][]byte{[]byte("s3cret"), []byte("other")}})

	// Authentication.
	code, body := e.post("/api/v1/events", "", []byte("["+opened("a", "T1")+"]"))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "Authorization: Bearer")
	code, _ = e.post("/api/v1/events", "wrong", []byte("["+opened("a", "T1")+"]"))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, uint64(0), e.messages())

	// A JSON array: two valid events, one without a ticket id, one an
	// hour ahead of the clock.
	batch := "[" + opened("a", "T1") + "," + `{"id":"b","type":"ticket.opened","occurred_at":"2026-11-23T11:00:00Z"}` + "," +
		opened("c", "T2") + "," + `{"id":"d","type":"ticket.opened","ticket_id":"T3","occurred_at":"2026-11-23T13:00:00Z"}` + "]"
	code, body = e.post("/api/v1/events", "s3cret", []byte(batch))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 2.0, body["accepted"])
	require.Equal(t, 0.0, body["duplicates"])
	rejected := body["rejected"].([]any)
	require.Len(t, rejected, 2)
	require.Equal(t, 1.0, rejected[0].(map[string]any)["index"])
	require.Equal(t, "missing_field", rejected[0].(map[string]any)["reason"])
	require.Equal(t, 3.0, rejected[1].(map[string]any)["index"])
	require.Equal(t, "future", rejected[1].(map[string]any)["reason"])
	require.Equal(t, uint64(2), e.messages())
	msg, err := e.stream.GetMsg(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, "helpdesk.events.ticket.opened", msg.Subject)
	require.Equal(t, "a", msg.Header.Get("Nats-Msg-Id"))
	require.JSONEq(t, opened("a", "T1"), string(msg.Data))

	// The same events again, as NDJSON with the other token: duplicates at
	// JetStream.
	code, body = e.post("/api/v1/events", "other", []byte(opened("a", "T1")+"\n\n"+opened("c", "T2")+"\n"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 0.0, body["accepted"])
	require.Equal(t, 2.0, body["duplicates"])
	require.Equal(t, uint64(2), e.messages())

	// Gzip.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write([]byte("[" + opened("e", "T4") + "]"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	code, body = e.post("/api/v1/events", "s3cret", gz.Bytes(), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, 1.0, body["accepted"])
	require.Equal(t, uint64(3), e.messages())

	// Bodies that cannot be read.
	code, body = e.post("/api/v1/events", "s3cret", []byte(`[{"id":"x"`))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["error"], "event 0")
	code, _ = e.post("/api/v1/events", "s3cret", []byte("  "))
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = e.post("/api/v1/events", "s3cret", []byte("not gzip"), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusBadRequest, code)

	require.Equal(t, 2.0, e.requests("api", "unauthorized"))
	require.Equal(t, 1.0, e.requests("api", "partial"))
	require.Equal(t, 2.0, e.requests("api", "accepted"))
	require.Equal(t, 3.0, e.requests("api", "bad_request"))
	require.Equal(t, 3.0, testutil.ToFloat64(mustVec(t, e.reg, "helpdesk_ingest_events_total").WithLabelValues("api", "accepted")))
	require.Equal(t, 2.0, testutil.ToFloat64(mustVec(t, e.reg, "helpdesk_ingest_events_total").WithLabelValues("api", "duplicate")))
	require.Equal(t, 2.0, testutil.ToFloat64(mustVec(t, e.reg, "helpdesk_ingest_events_total").WithLabelValues("api", "rejected")))
}

func TestEventsLimits(t *testing.T) {
	e := newEnv(t, Config{Tokens: [][]byte{[]byte("t")}, MaxBody: 1000, MaxEvents: 3, Rate: 1, Burst: 3})
	big := "[" + strings.Repeat(opened("a", "T1")+",", 10) + opened("z", "T9") + "]"
	code, body := e.post("/api/v1/events", "t", []byte(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, "%v", body)
	// 4 small events: over MaxEvents.
	four := "[" + opened("a", "1") + "," + opened("b", "2") + "," + opened("c", "3") + "," + opened("d", "4") + "]"
	require.Less(t, len(four), 1000)
	code, _ = e.post("/api/v1/events", "t", []byte(four))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	// A gzip bomb: small on the wire, over the limit decompressed.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte("[" + opened("a", "T1") + strings.Repeat(" ", 5000) + "]"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.Less(t, gz.Len(), 1000)
	code, _ = e.post("/api/v1/events", "t", gz.Bytes(), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	// The burst of 3 is spent (at 1 request a second): the next request
	// is refused, with the seconds to wait.
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/events", strings.NewReader("["+opened("a", "1")+"]"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, 3.0, e.requests("api", "too_large"))
	require.Equal(t, 1.0, e.requests("api", "rate_limited"))
	require.Equal(t, uint64(0), e.messages())
}

func TestEventsOff(t *testing.T) {
	e := newEnv(t, Config{})
	code, body := e.post("/api/v1/events", "t", []byte("["+opened("a", "T1")+"]"))
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body["error"], "-ingest-token-file")
	require.Equal(t, 1.0, e.requests("api", "off"))
}

// fakeSource stands in for a helpdesk: the token "good" verifies;
// {"ticket": N} maps to an opening; {"ping": true} to nothing; anything
// else cannot be read.
type fakeSource struct{ name string }

func (f fakeSource) Name() string { return f.name }
func (f fakeSource) Verify(h http.Header, q url.Values, _, secret []byte, _ time.Time) error {
	return webhook.VerifyToken(h, q, secret)
}
func (f fakeSource) Labels() webhook.Labels { return webhook.Labels{} }
func (f fakeSource) Map(_ http.Header, body []byte, _ *webhook.Labels) ([]webhook.Event, error) {
	var p struct {
		Ticket int  `json:"ticket"`
		Ping   bool `json:"ping"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.Join(webhook.ErrBadPayload, err)
	}
	if p.Ping {
		return nil, nil
	}
	return []webhook.Event{{ID: fmt.Sprintf("fake:%d", p.Ticket), Type: "ticket.opened", TicketID: fmt.Sprintf("fake:%d", p.Ticket),
		OccurredAt: testNow.Add(-time.Minute)}}, nil
}

func TestWebhookEndpoint(t *testing.T) {
	e := newEnv(t, Config{Webhooks: map[string]Webhook{"chatwoot": {Source: fakeSource{"chatwoot"}, Secret: []byte("hook")}}})
	code, body := e.post("/api/v1/webhooks/zendesk", "hook", []byte(`{"ticket":1}`))
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body["error"], "ingest.webhooks.zendesk.secret_file")
	code, _ = e.post("/api/v1/webhooks/nosuch", "hook", []byte(`{}`))
	require.Equal(t, http.StatusNotFound, code)

	code, body = e.post("/api/v1/webhooks/chatwoot", "wrong", []byte(`{"ticket":1}`))
	require.Equal(t, http.StatusUnauthorized, code)
	require.NotContains(t, fmt.Sprint(body), "hook")
	code, body = e.post("/api/v1/webhooks/chatwoot?token=hook", "", []byte(`{"ticket":1}`))
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, 1.0, body["accepted"])
	// Redelivered: a duplicate.
	code, body = e.post("/api/v1/webhooks/chatwoot", "hook", []byte(`{"ticket":1}`))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1.0, body["duplicates"])
	require.Equal(t, uint64(1), e.messages())
	// A payload of a kind we do not use: 202, nothing published.
	code, _ = e.post("/api/v1/webhooks/chatwoot", "hook", []byte(`{"ping":true}`))
	require.Equal(t, http.StatusAccepted, code)
	// One that cannot be read: 400 and dead-lettered with its reason.
	code, body = e.post("/api/v1/webhooks/chatwoot", "hook", []byte(`{"ticket":`))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["error"], "bad payload")
	require.Equal(t, uint64(1), e.messages())
	dl, err := e.dl.GetMsg(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, `{"ticket":`, string(dl.Data))
	require.Equal(t, "chatwoot", dl.Header.Get("Helpdesk-Source"))
	require.Equal(t, "bad_payload", dl.Header.Get("Helpdesk-Reject-Reason"))

	require.Equal(t, 1.0, e.requests("zendesk", "off"))
	require.Equal(t, 1.0, e.requests("chatwoot", "unauthorized"))
	require.Equal(t, 2.0, e.requests("chatwoot", "accepted"))
	require.Equal(t, 1.0, e.requests("chatwoot", "unmapped"))
	require.Equal(t, 1.0, e.requests("chatwoot", "bad_request"))
}
