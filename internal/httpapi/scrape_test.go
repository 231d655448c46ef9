package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/metrics"
)

// countingCollector counts the Collect calls of a collector. When gate is
// not nil, the first Collect waits for it to close (for a minute at most,
// so that a broken test fails rather than hangs).
type countingCollector struct {
	prometheus.Collector
	collects    atomic.Int64
	gate        <-chan struct{}
	gateTimeout atomic.Bool
}

func (c *countingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.collects.Add(1) == 1 && c.gate != nil {
		select {
		case <-c.gate:
		case <-time.After(time.Minute):
			c.gateTimeout.Store(true)
		}
	}
	c.Collector.Collect(ch)
}

// newScrapeHandler returns the handler over src with a real collector of
// src.Latest, counted, and the Go runtime's collector beside it.
func newScrapeHandler(t testing.TB, src *source, gate <-chan struct{}) (http.Handler, *countingCollector) {
	t.Helper()
	counted := &countingCollector{Collector: metrics.NewCollector(src.Latest), gate: gate}
	reg := prometheus.NewRegistry()
	reg.MustRegister(counted, collectors.NewGoCollector())
	return Handler(src, reg, Options{}), counted
}

// TestScrapeConcurrentRendersOnce sends 500 scrapes at once over one
// view. The rendering is held until every one of them has reached the
// server, so all are in flight together: all get 200 and the same body,
// rendered once, and none asks the engine for a fresh snapshot.
func TestScrapeConcurrentRendersOnce(t *testing.T) {
	const clients = 500
	src := newSource(t, true)
	all := make(chan struct{})
	h, counted := newScrapeHandler(t, src, all)
	var arrived atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == clients {
			close(all)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	codes := make([]int, clients)
	bodies := make([]string, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/metrics")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			codes[i], bodies[i], errs[i] = resp.StatusCode, string(body), err
		})
	}
	wg.Wait()
	require.False(t, counted.gateTimeout.Load(), "not every scrape reached the server while the first was rendering")
	for i := range clients {
		require.NoError(t, errs[i], i)
		require.Equal(t, http.StatusOK, codes[i], "scrape %d: %.200s", i, bodies[i])
		require.True(t, bodies[i] == bodies[0], "scrape %d got another body", i)
	}
	require.Contains(t, bodies[0], "\nhelpdesk_open_tickets{")
	require.Contains(t, bodies[0], "\ngo_goroutines ")
	require.Equal(t, int64(1), counted.collects.Load(), "renderings of one view")
	require.Zero(t, src.fresh.Load(), "calls of Fresh")
}

// TestScrapeRefreshedOnNewView publishes a new view: the next scrape
// renders it, once.
func TestScrapeRefreshedOnNewView(t *testing.T) {
	src := newSource(t, true)
	h, counted := newScrapeHandler(t, src, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	scrape := func() string {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	require.Contains(t, scrape(), "\nhelpdesk_consumer_pending_messages 0\n")
	scrape()
	require.Equal(t, int64(1), counted.collects.Load())

	next := *src.Latest()
	next.PendingMessages = 7
	src.snap.Store(&next)
	require.Contains(t, scrape(), "\nhelpdesk_consumer_pending_messages 7\n")
	scrape()
	require.Equal(t, int64(2), counted.collects.Load())
	require.Zero(t, src.fresh.Load(), "calls of Fresh")
}

// TestScrapeFormats renders each negotiated format and encoding once per
// view, and serves each with its own headers.
func TestScrapeFormats(t *testing.T) {
	src := newSource(t, true)
	h, counted := newScrapeHandler(t, src, nil)
	scrape := func(accept, encoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", encoding)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, []string{"Accept", "Accept-Encoding"}, rec.Header().Values("Vary"))
		return rec
	}
	const proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	for range 2 {
		text := scrape("", "")
		require.Equal(t, expfmt.TypeTextPlain, expfmt.Format(text.Header().Get("Content-Type")).FormatType())
		require.Empty(t, text.Header().Get("Content-Encoding"))

		gz := scrape("", "gzip")
		require.Equal(t, "gzip", gz.Header().Get("Content-Encoding"))
		zr, err := gzip.NewReader(gz.Body)
		require.NoError(t, err)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err)
		// The Go collector's values differ between the two renderings;
		// the families do not.
		require.Equal(t, families(t, text.Body.Bytes()), families(t, unzipped))

		pb := scrape(proto, "identity")
		require.Equal(t, expfmt.TypeProtoDelim, expfmt.Format(pb.Header().Get("Content-Type")).FormatType())
		require.Empty(t, pb.Header().Get("Content-Encoding"))
	}
	require.Equal(t, int64(3), counted.collects.Load(), "one rendering per format and encoding")
}

// families returns the names of the families of a text exposition.
func families(t *testing.T, body []byte) []string {
	t.Helper()
	var names []string
	for line := range strings.Lines(string(body)) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	require.NotEmpty(t, names)
	return names
}

// TestScrapeNameFilter renders only the families asked for, for that
// request alone.
func TestScrapeNameFilter(t *testing.T) {
	src := newSource(t, true)
	h, counted := newScrapeHandler(t, src, nil)
	for range 2 {
		rec := get(h, "/metrics?name[]=helpdesk_open_tickets&name[]=helpdesk_events_total", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, []string{"helpdesk_events_total", "helpdesk_open_tickets"}, families(t, rec.Body.Bytes()))
	}
	require.Equal(t, int64(2), counted.collects.Load())
}

// TestScrapeGatherError answers 500 with the error when a collector
// fails, as promhttp does.
func TestScrapeGatherError(t *testing.T) {
	broken := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("collector broken")
	})
	rec := get(Handler(newSource(t, true), broken, Options{}), "/metrics", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), "collector broken")
}

// TestScrapeCallerGoesAway cancels the scrape that started a rendering
// while it is held: that scrape gets 503, and the rendering is still made
// once and served to the next scrape.
func TestScrapeCallerGoesAway(t *testing.T) {
	src := newSource(t, true)
	gate := make(chan struct{})
	h, counted := newScrapeHandler(t, src, gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	close(gate)
	require.Equal(t, http.StatusOK, get(h, "/metrics", "").Code)
	require.Equal(t, int64(1), counted.collects.Load())
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"gzip, deflate, br":       true,
		"GZIP;q=0.5":              true,
		"*":                       true,
		"gzip;q=0":                false,
		"*;q=0":                   false,
		"identity, gzip;q=0.5":    false,
		"identity;q=0.5, gzip":    true,
		"br, zstd":                false,
		"gzip;q=bad":              false,
		"deflate, *;q=0.1, gzip;": true,
	} {
		require.Equal(t, want, acceptsGzip(header), header)
	}
}

// populatedSource returns a source over the snapshot the metrics
// package's BenchmarkRender renders: 5 channels × 4 priorities × 10
// teams, every series populated.
func populatedSource(b *testing.B) *source {
	cfg := kpi.DefaultConfig()
	cfg.Teams = []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}
	t0 := testNow.Add(-time.Hour)
	s, err := kpi.New(cfg, testNow.UnixNano())
	require.NoError(b, err)
	event := func(id string, typ events.Type, ticket string, at time.Duration, f func(*events.Event)) *events.Event {
		e := &events.Event{ID: []byte(id), Type: typ, TicketID: []byte(ticket), OccurredAt: t0.Add(at).UnixNano(), Replies: -1, HandleMillis: -1}
		if f != nil {
			f(e)
		}
		return e
	}
	pris := []events.Priority{events.PriorityLow, events.PriorityNormal, events.PriorityHigh, events.PriorityUrgent}
	n := 0
	for _, ch := range cfg.Channels {
		for _, p := range pris {
			for _, tm := range cfg.Teams {
				n++
				id := fmt.Sprintf("T%d", n)
				at := time.Duration(n) * 10 * time.Second
				s.Apply(event(id+"o", events.TicketOpened, id, at, func(e *events.Event) { e.Channel, e.Team, e.Priority = []byte(ch), []byte(tm), p }))
				s.Apply(event(id+"r", events.TicketFirstReply, id, at+time.Minute, nil))
				s.Apply(event(id+"x", events.TicketResolved, id, at+5*time.Minute, func(e *events.Event) { e.Replies, e.HandleMillis = 1, 60_000 }))
				s.Apply(event(id+"s", events.SurveyAnswered, id, at+6*time.Minute, func(e *events.Event) { e.Survey, e.Score = events.SurveyNPS, 9 }))
			}
		}
	}
	src := &source{ready: true}
	view := s.View(testNow.UnixNano())
	view.CaughtUp = true
	src.snap.Store(view)
	return src
}

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the handler rather than a recorder's copy of the body.
type discard struct {
	header http.Header
	n      int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkScrape serves /metrics over the BenchmarkRender snapshot: from
// the cached rendering of the view, and rendered anew, a new view being
// published before every scrape.
func BenchmarkScrape(b *testing.B) {
	src := populatedSource(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src.Latest))
	h := Handler(src, reg, Options{})
	for _, bc := range []struct {
		name     string
		encoding string
		cached   bool
	}{
		{"cached", "", true},
		{"cached-gzip", "gzip", true},
		{"uncached", "", false},
		{"uncached-gzip", "gzip", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", bc.encoding)
			w := &discard{header: http.Header{}}
			h.ServeHTTP(w, req) // the rendering of the cached case
			b.ReportAllocs()
			for b.Loop() {
				if !bc.cached {
					next := *src.Latest()
					src.snap.Store(&next)
				}
				w.n = 0
				clear(w.header)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(w.n), "bytes/scrape")
		})
	}
	rec := get(h, "/metrics", "")
	require.Equal(b, http.StatusOK, rec.Code)
	require.True(b, bytes.Contains(rec.Body.Bytes(), []byte(`helpdesk_tickets_opened_total{channel="chat",priority="high",team="t3"} 1`)))
}
