package httpapi

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestStartingReportsThePhase serves the start-up handler: /healthz is
// 200, /metrics the process's own metrics, /readyz and everything else
// 503 with the phase; then the API's /readyz says the phase while the
// source is not ready.
func TestStartingReportsThePhase(t *testing.T) {
	phase := &Phase{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "helpdesk_build_info", Help: "Build."}))
	h := Starting(phase, reg)
	rec := get(h, "/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "helpdesk_build_info 0")
	require.Equal(t, http.StatusOK, get(h, "/healthz", "").Code)
	rec = get(h, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "not ready: "+defaultNotReady+"\n", rec.Body.String(), "no phase yet")

	phase.Set("connecting to NATS at %s: %s; retrying in %v", "nats://127.0.0.1:4222", "nats: no servers available for connection", "4s")
	for _, path := range []string{"/readyz", "/api/v1/kpis?window=1h"} {
		rec := get(h, path, "")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		require.Equal(t, "not ready: connecting to NATS at nats://127.0.0.1:4222: nats: no servers available for connection; retrying in 4s\n", rec.Body.String(), path)
	}

	phase.Set("catching up with the stream HELPDESK_EVENTS")
	api := Handler(newSource(t, false), prometheus.NewRegistry(), Options{Phase: phase})
	rec = get(api, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "not ready: catching up with the stream HELPDESK_EVENTS\n", rec.Body.String())
	require.Equal(t, http.StatusOK, get(Handler(newSource(t, true), prometheus.NewRegistry(), Options{Phase: phase}), "/readyz", "").Code)
}
