package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// source is a Source over a state the test publishes views of. It counts
// the calls that would take time from the state's owner.
type source struct {
	snap  atomic.Pointer[kpi.View]
	ready bool
	fresh atomic.Int64 // calls of Fresh
}

func (s *source) Latest() *kpi.View { return s.snap.Load() }
func (s *source) Fresh(context.Context) *kpi.View {
	s.fresh.Add(1)
	return s.snap.Load()
}
func (s *source) Ready() bool { return s.ready }
func (s *source) AtRisk(_ context.Context, _ kpi.AtRiskFilter, limit int) (kpi.AtRiskList, int64, error) {
	now := s.snap.Load().Time
	return kpi.AtRiskList{Breached: 1, Tickets: []kpi.AtRisk{{TicketID: "T1", SLA: "first_reply", Policy: "default", Priority: "urgent",
		State: "breached", Status: "pending", Deadline: now - int64(90*time.Second), PausedSeconds: 60}}[:min(limit, 1)]}, now, nil
}

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// newSource returns a source with the snapshot of an empty state.
func newSource(t testing.TB, ready bool) *source {
	t.Helper()
	state, err := kpi.New(kpi.DefaultConfig(), testNow.UnixNano())
	require.NoError(t, err)
	src := &source{ready: ready}
	view := state.View(testNow.UnixNano())
	view.CaughtUp = true
	src.snap.Store(view)
	return src
}

func newHandler(t *testing.T, ready bool) http.Handler {
	t.Helper()
	return Handler(newSource(t, ready), prometheus.NewRegistry(), Options{})
}

func get(h http.Handler, target string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, strings.NewReader(body))
	if body == "" {
		req.ContentLength = 0
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEndpoints(t *testing.T) {
	cases := []struct {
		name   string
		ready  bool
		target string
		body   string
		code   int
		want   string
	}{
		{"alive", false, "/healthz", "", 200, "ok"},
		{"not ready while catching up", false, "/readyz", "", 503, "not ready"},
		{"ready", true, "/readyz", "", 200, "ready"},
		{"kpis need a window", true, "/api/v1/kpis", "", 400, `"windows"`},
		{"unknown window", true, "/api/v1/kpis?window=2h", "", 400, `"15m"`},
		{"kpis", true, "/api/v1/kpis?window=1h", "", 200, `"tickets_opened": 0`},
		{"at risk", true, "/api/v1/sla/at-risk?limit=5", "", 200, `"seconds_left": -90`},
		{"bad limit", true, "/api/v1/sla/at-risk?limit=0", "", 400, "limit"},
		{"limit too large", true, "/api/v1/sla/at-risk?limit=10001", "", 400, "limit"},
		{"query too long", true, "/api/v1/kpis?window=" + strings.Repeat("x", 2000), "", 414, "too long"},
		{"body refused", true, "/api/v1/kpis?window=1h", "{}", 413, "no body"},
		{"not found", true, "/nope", "", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(newHandler(t, tc.ready), tc.target, tc.body)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), tc.want)
		})
	}
}

// TestAPIRateLimitPerClient spends one client's budget: it gets 429 with
// Retry-After on both API endpoints, while another client is served.
func TestAPIRateLimitPerClient(t *testing.T) {
	// One request per 100 s after a burst of 3: nothing refills during
	// the test.
	h := Handler(newSource(t, true), prometheus.NewRegistry(), Options{APIRate: 0.01, APIBurst: 3})
	from := func(addr, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for range 3 {
		require.Equal(t, http.StatusOK, from("192.0.2.1:40000", "/api/v1/kpis?window=1h").Code)
	}
	for _, target := range []string{"/api/v1/kpis?window=1h", "/api/v1/sla/at-risk"} {
		rec := from("192.0.2.1:40001", target) // another port of the same host
		require.Equal(t, http.StatusTooManyRequests, rec.Code, target)
		require.Contains(t, rec.Body.String(), "slow down")
		retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		require.NoError(t, err)
		require.InDelta(t, 100, retry, 1, "seconds until the next token")
	}
	require.Equal(t, http.StatusOK, from("192.0.2.2:40000", "/api/v1/kpis?window=1h").Code, "another client")
	require.Equal(t, http.StatusOK, from("[2001:db8::1]:40000", "/api/v1/sla/at-risk").Code, "another client")
	// /metrics and the probes are not the API's: never limited.
	require.Equal(t, http.StatusOK, from("192.0.2.1:40000", "/metrics").Code)
	require.Equal(t, http.StatusOK, from("192.0.2.1:40000", "/healthz").Code)
}

// TestAPIRateLimitDefaults checks the default budget of one client: its
// burst passes and the rest is refused.
func TestAPIRateLimitDefaults(t *testing.T) {
	h := newHandler(t, true)
	codes := map[int]int{}
	for range defaultAPIBurst + 60 {
		codes[get(h, "/api/v1/sla/at-risk?limit=1", "").Code]++
	}
	// The bucket refills meanwhile, by 20 a second: for none to be
	// refused, the requests would have to take 3 s.
	require.GreaterOrEqual(t, codes[200], defaultAPIBurst)
	require.Positive(t, codes[429])
}
