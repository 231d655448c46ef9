package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// source is a Source over a fixed state.
type source struct {
	snap  *kpi.Snapshot
	ready bool
}

func (s source) Fresh(context.Context) *kpi.Snapshot { return s.snap }
func (s source) Ready() bool                         { return s.ready }
func (s source) AtRisk(_ context.Context, limit int) ([]kpi.AtRisk, int64, error) {
	return []kpi.AtRisk{{TicketID: "T1", SLA: "first_reply", Priority: "urgent", Status: "breached", Deadline: s.snap.Time - int64(90*time.Second)}}[:min(limit, 1)], s.snap.Time, nil
}

func newHandler(t *testing.T, ready bool) http.Handler {
	t.Helper()
	state, err := kpi.New(kpi.DefaultConfig(), time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	require.NoError(t, err)
	return Handler(source{snap: state.Snapshot(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano()), ready: ready}, prometheus.NewRegistry())
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

func TestAPIRateLimit(t *testing.T) {
	h := newHandler(t, true)
	codes := map[int]int{}
	retryAfter := ""
	for range apiBurst + 10 {
		rec := get(h, "/api/v1/kpis?window=1h", "")
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests {
			retryAfter = rec.Header().Get("Retry-After")
		}
	}
	// The burst passes (the bucket may refill a token or two meanwhile);
	// the rest is refused with 429 and Retry-After.
	require.GreaterOrEqual(t, codes[200], apiBurst)
	require.Positive(t, codes[429])
	require.Equal(t, "1", retryAfter)
}
