package httpapi

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Phase reports, for /readyz, what the program is doing while it is not
// ready: connecting to NATS, creating the stream, restoring the snapshot,
// catching up. The zero Phase reports nothing; it is safe for concurrent
// use.
type Phase struct {
	what atomic.Pointer[string]
}

// Set records what the program is doing now, as fmt.Sprintf formats it.
func (p *Phase) Set(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	p.what.Store(&what)
}

// String returns what Set last recorded, "" when it was never called.
func (p *Phase) String() string {
	if p == nil {
		return ""
	}
	if what := p.what.Load(); what != nil {
		return *what
	}
	return ""
}

// defaultNotReady is /readyz's reason when no Phase says more.
const defaultNotReady = "restoring state or catching up with the stream"

// notReady answers 503 with the reason: the phase, or the default.
func notReady(w http.ResponseWriter, phase *Phase) {
	why := phase.String()
	if why == "" {
		why = defaultNotReady
	}
	http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
}

// Starting returns the handler to serve while the program starts, before
// it has a Source: /healthz answers 200 (the process is alive), /metrics
// serves what gatherer holds so far (the process's own metrics, like
// helpdesk_build_info: no KPI yet, so no series that would later dip),
// /readyz answers 503 with what phase reports, and every other path
// answers 503 with the same reason, so that nothing is served from a
// state not yet restored.
func Starting(phase *Phase, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		notReady(w, phase)
	})
	return mux
}
