package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's and client's background goroutines that
		// outlive a test by moments are theirs to stop, not ours.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// aggregator is the whole program, run in-process by a test.
type aggregator struct {
	url  string // http://host:port
	stop func() error
}

// startAggregator runs run() against natsURL with a fixed clock and a
// fresh registry, and waits until its HTTP listener is bound.
func startAggregator(t *testing.T, natsURL string, now time.Time, edit ...func(*Config)) *aggregator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NATSURL = natsURL
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.now = func() time.Time { return now }
	addr := make(chan string, 1)
	cfg.listening = func(a string) { addr <- a }
	for _, e := range edit {
		e(&cfg)
	}
	require.NoError(t, cfg.Validate())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), prometheus.NewRegistry())
	}()
	a := &aggregator{}
	select {
	case l := <-addr:
		a.url = "http://" + l
	case err := <-done:
		cancel()
		t.Fatalf("aggregator exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("aggregator did not start serving within 30s")
	}
	stopped := false
	a.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = a.stop() })
	return a
}

// scrape fetches /metrics and returns every sample as "name{labels}" →
// value, with labels sorted by name.
func scrape(t *testing.T, baseURL string) map[string]float64 {
	t.Helper()
	m, err := fetchMetrics(http.DefaultClient, baseURL)
	require.NoError(t, err)
	return m
}

// fetchMetrics is scrape for callers that cannot fail the test: each
// sample, or the error.
func fetchMetrics(client *http.Client, baseURL string) (map[string]float64, error) {
	resp, err := client.Get(baseURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Gauge != nil:
				out[key(name, labels)] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key(name, labels)] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				out[key(name+"_count", labels)] = float64(h.GetSampleCount())
				out[key(name+"_sum", labels)] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					bl := maps.Clone(labels)
					bl["le"] = fmt.Sprint(b.GetUpperBound())
					out[key(name+"_bucket", bl)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out, nil
}

// key renders a series name with its labels sorted by name.
func key(name string, labels map[string]string) string {
	names := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + fmt.Sprintf("%q", labels[n])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// handled returns how many messages a scrape says the aggregator has taken
// in: applied, rejected, or dropped as duplicates.
func handled(m map[string]float64) int {
	n := m[`helpdesk_events_duplicate_total{}`] + m[`helpdesk_events_expired_total{}`]
	for t := events.TicketOpened; int(t) < events.NumTypes; t++ {
		n += m[key("helpdesk_events_total", map[string]string{"type": t.String()})]
	}
	for _, r := range events.Reasons() {
		n += m[key("helpdesk_events_rejected_total", map[string]string{"reason": string(r)})]
	}
	return int(n)
}

// waitHandled scrapes baseURL until total messages are handled and none
// is pending, and returns that scrape.
func waitHandled(t *testing.T, baseURL string, total int) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		m := scrape(t, baseURL)
		if handled(m) == total && m[`helpdesk_consumer_pending_messages{}`] == 0 {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60s: %d of %d messages handled, %v pending", handled(m), total, m[`helpdesk_consumer_pending_messages{}`])
		}
		<-tick.C
	}
}

// waitStream waits until the aggregator has created its stream.
func waitStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	waitFor(t, 10*time.Second, "stream creation", func() bool {
		_, err := js.Stream(context.Background(), "HELPDESK_EVENTS")
		return err == nil
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
