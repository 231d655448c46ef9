package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// Limits of /metrics: renders at once by default, and how long a scrape
// waits for its rendering before it gives up with 503.
const (
	defaultMaxRenders = 2
	scrapeTimeout     = 30 * time.Second
)

// scrapes serves /metrics from the published view. It never asks the
// engine for anything: it reads the view the engine last published and
// renders the exposition of the gatherer once per view and negotiated
// format, however many scrapes ask for it at once. At most a fixed number
// of renders run at a time; a scrape that finds its rendering in flight
// waits for it instead of failing.
//
// The gatherer also holds the process's own metrics (Go runtime, process,
// ingest and snapshot counters), which change between scrapes without a
// new view. They are rendered with the view and cached for its lifetime,
// one engine tick (about a second): a scrape may show them up to that old.
type scrapes struct {
	latest   func() *kpi.View
	gatherer prometheus.Gatherer
	sem      chan struct{} // one token per render running

	mu sync.Mutex
	// view is the published snapshot the cached renderings belong to. It
	// is weak so that the cache does not keep a superseded snapshot alive.
	view       weak.Pointer[kpi.View]
	renderings map[renderKey]*rendering
}

// renderKey is what a rendering depends on besides the view.
type renderKey struct {
	format expfmt.Format
	gzip   bool
}

// rendering is an exposition, complete once done is closed.
type rendering struct {
	done chan struct{}
	exposition
}

// exposition is one answer to a scrape. Its header and body are shared by
// every scrape of it and never changed once made.
type exposition struct {
	status int
	header http.Header
	body   []byte
}

func newScrapes(latest func() *kpi.View, gatherer prometheus.Gatherer, maxRenders int) *scrapes {
	if maxRenders <= 0 {
		maxRenders = defaultMaxRenders
	}
	return &scrapes{latest: latest, gatherer: gatherer, sem: make(chan struct{}, maxRenders)}
}

func (s *scrapes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
	defer cancel()
	key := renderKey{
		format: expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...),
		gzip:   acceptsGzip(r.Header.Get("Accept-Encoding")),
	}
	// A name[] filter (promhttp's) selects families: such a rendering is
	// made for that request alone, though still within the render limit.
	if names := r.URL.Query()["name[]"]; len(names) > 0 {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			http.Error(w, "timed out waiting to render the metrics; try again", http.StatusServiceUnavailable)
			return
		}
		filter := make(map[string]bool, len(names))
		for _, n := range names {
			filter[n] = true
		}
		e := s.render(key, filter)
		<-s.sem
		e.write(w)
		return
	}
	rd := s.rendering(key)
	select {
	case <-rd.done:
		rd.write(w)
	case <-ctx.Done():
		http.Error(w, "timed out waiting for the metrics to be rendered; try again", http.StatusServiceUnavailable)
	}
}

// rendering returns the rendering of the latest view for key, starting it
// if no scrape has yet.
func (s *scrapes) rendering(key renderKey) *rendering {
	view := weak.Make(s.latest())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view != view || s.renderings == nil {
		s.view, s.renderings = view, make(map[renderKey]*rendering)
	}
	if rd, ok := s.renderings[key]; ok {
		return rd
	}
	rd := &rendering{done: make(chan struct{})}
	s.renderings[key] = rd
	// The render runs on its own goroutine, so that a scrape that goes
	// away does not leave the others waiting for a rendering nobody makes.
	go func() {
		s.sem <- struct{}{}
		rd.exposition = s.render(key, nil)
		<-s.sem
		close(rd.done)
	}()
	return rd
}

// render gathers and encodes every family, or those in filter when it is
// not nil. The collectors read the engine's published view; should the
// engine publish a newer one meanwhile, the rendering shows the newer,
// which only makes it fresher than the view it is cached under.
func (s *scrapes) render(key renderKey, filter map[string]bool) exposition {
	e := exposition{status: http.StatusOK, header: http.Header{"Vary": {"Accept", "Accept-Encoding"}}}
	mfs, err := s.gatherer.Gather()
	if err != nil {
		return e.fail(fmt.Errorf("gathering metrics: %w", err))
	}
	var buf bytes.Buffer
	var w io.Writer = &buf
	var gz *gzip.Writer
	if key.gzip {
		gz, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level: no error
		w = gz
	}
	enc := expfmt.NewEncoder(w, key.format)
	for _, mf := range mfs {
		if filter != nil && !filter[mf.GetName()] {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			return e.fail(fmt.Errorf("encoding %s: %w", mf.GetName(), err))
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return e.fail(fmt.Errorf("encoding metrics: %w", err))
		}
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return e.fail(fmt.Errorf("compressing metrics: %w", err))
		}
		e.header.Set("Content-Encoding", "gzip")
	}
	e.header.Set("Content-Type", string(key.format))
	e.body = buf.Bytes()
	return e
}

// fail returns e as a 500 answer with err, as promhttp answers when a
// collector fails.
func (e exposition) fail(err error) exposition {
	e.status = http.StatusInternalServerError
	e.header.Set("Content-Type", "text/plain; charset=utf-8")
	e.header.Del("Content-Encoding")
	e.body = []byte("An error has occurred while serving metrics:\n\n" + err.Error() + "\n")
	return e
}

// write sends e.
func (e *exposition) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range e.header {
		h[k] = append([]string(nil), v...)
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body) // a client that went away is no error of ours
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip at
// least as much as the identity encoding.
func acceptsGzip(header string) bool {
	gzipQ, identityQ := -1.0, 0.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue // a malformed preference counts as none
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip":
			gzipQ = q
		case "*":
			if gzipQ < 0 {
				gzipQ = q
			}
		case "identity":
			identityQ = q
		}
	}
	return gzipQ > 0 && gzipQ >= identityQ
}
