package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// TestCrashRecovery checks the promise "after a kill -9 at any moment the
// restarted service shows exactly the values an uninterrupted run would
// have". It builds the real binary, runs it against an in-process
// JetStream, publishes a scenario in bursts and kills the process with
// SIGKILL at seeded points: right after a burst (mid-apply), once a
// snapshot taken after the burst is on disk, while a restarted process
// replays the stream, and right after exec. Every restart uses the same
// data directory. The final scrape must equal, series by series, that of
// an uninterrupted in-process run of the same scenario, and its
// cumulative series those of a second aggregator reading the same stream
// without interruption.
//
// Throughout, /metrics is scraped every 200 ms, whichever process is
// running: no cumulative series (a counter, a histogram's count, sum or
// bucket) may ever show less than it showed before, across the kills.
//
// The seed is logged; CRASH_SEED=<seed> replays the same scenario and the
// same kill points (the moments within them still depend on scheduling).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it several times")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CRASH_SEED")
		seed = v
	}
	t.Logf("seed %d (rerun with CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	sc := newScenario(seed, 1500)

	binary := buildAggregator(t) // builds while the uninterrupted run runs
	want := runScenario(t, sc, sc.events)

	srv := natstest.Start(t)
	h := &crashHarness{t: t, bin: binary(), natsURL: srv.ClientURL(), dataDir: t.TempDir(),
		logPath: filepath.Join(t.TempDir(), "aggregator.log")}
	t.Cleanup(h.cleanup)
	// The reference reads the same stream, never interrupted.
	reference := startAggregator(t, srv.ClientURL(), testNow)
	watch := watchFalls(h)
	h.start()
	_, js := srv.Connect(t)
	waitFor(t, 30*time.Second, "stream creation", func() bool {
		h.requireRunning()
		_, err := js.Stream(context.Background(), "HELPDESK_EVENTS")
		return err == nil
	})

	// What runScenario publishes, in its order, apart from its final
	// publish retries (JetStream drops them, so they add nothing to the
	// stream and cannot make a new snapshot).
	type item struct {
		m      message
		withID bool
	}
	var items []item
	add := func(ms []message, withID bool) {
		for _, m := range ms {
			items = append(items, item{m, withID})
		}
	}
	half := len(sc.events) / 2
	add(sc.events[:half], true)
	add([]message{sc.late}, true)
	for i, p := range poison() {
		add([]message{{id: fmt.Sprintf("poison-%d", i), subject: "helpdesk.events.x", body: []byte(p.body)}}, true)
	}
	add(sc.events[half:], true)
	add(sc.duplicates, false)
	total := len(items)
	publishItems := func(its []item) {
		for len(its) > 0 {
			n := 1
			for n < len(its) && its[n].withID == its[0].withID {
				n++
			}
			var ms []message
			for _, it := range its[:n] {
				ms = append(ms, it.m)
			}
			publish(t, js, ms, its[0].withID)
			its = its[n:]
		}
	}

	// One kill point per kind, in a seeded order, plus one of a seeded
	// kind; each at a seeded item index, spread over the stream.
	kinds := []crashKind{}
	for _, k := range rng.Perm(int(numCrashKinds)) {
		kinds = append(kinds, crashKind(k))
	}
	kinds = append(kinds, crashKind(rng.IntN(int(numCrashKinds))))
	segment := total / (len(kinds) + 1)
	cuts := make([]int, len(kinds))
	var plan []string
	for i, kind := range kinds {
		cuts[i] = segment*(i+1) + rng.IntN(segment/2) - segment/4
		plan = append(plan, fmt.Sprintf("after item %d: %s", cuts[i], kind))
	}
	t.Logf("kill points (of %d items): %s", total, strings.Join(plan, "; "))
	from := 0
	for i, kind := range kinds {
		cut := cuts[i]
		before := h.newestSnapshot()
		publishItems(items[from:cut])
		from = cut
		switch kind {
		case crashAfterBurst:
			h.kill()
		case crashAfterSnapshot:
			waitFor(t, 30*time.Second, "a snapshot taken after the burst", func() bool {
				h.requireRunning()
				return h.newestSnapshot() > before
			})
			h.kill()
		case crashWhileReplaying:
			h.kill()
			h.start()
			code := h.waitServing()
			h.kill()
			t.Logf("killed while replaying: /readyz answered %d", code)
		case crashAtExec:
			h.kill()
			h.start()
			h.kill()
		}
		h.start()
		// Let the watcher see this process serve its counters, so the
		// next kill is checked against what it served.
		waitFor(t, 30*time.Second, "the restarted aggregator serving its counters", func() bool {
			h.requireRunning()
			return watch.served(h.starts)
		})
	}
	publishItems(items[from:])
	publish(t, js, sc.events[:50], true) // publish retries: JetStream drops them

	// Wait until every message is accounted for. A run that loses some
	// never gets there: it fails, and still shows what differs.
	h.waitServing()
	var got map[string]float64
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		h.requireRunning()
		got = scrape(t, h.cur.url)
		n := handled(got)
		pending := got[`helpdesk_consumer_pending_messages{}`]
		if n == total && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("timed out after 60s waiting for every message applied after the crashes: applied+rejected+duplicates %v of %d, pending %v",
				n, total, pending)
			break
		}
		<-tick.C
	}

	var diffs []string
	for k, v := range want {
		if processLocal(k) {
			continue
		}
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: uninterrupted %v, missing after the crashes", k, v))
		case g != v && !(math.IsNaN(g) && math.IsNaN(v)):
			diffs = append(diffs, fmt.Sprintf("%s: uninterrupted %v, after the crashes %v", k, v, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && !processLocal(k) {
			diffs = append(diffs, fmt.Sprintf("%s: absent from the uninterrupted run, after the crashes %v", k, g))
		}
	}
	slices.Sort(diffs)
	require.Empty(t, strings.Join(diffs, "\n"), "seed %d, kill points %s: %d series differ",
		seed, strings.Join(plan, "; "), len(diffs))

	// The same cumulative values as the aggregator that read the same
	// stream without interruption.
	ref := waitHandled(t, reference.url, total)
	for k, v := range ref {
		if cumulative(k) {
			require.Equal(t, v, got[k], "%s: uninterrupted reader of the same stream %v, after the crashes %v", k, v, got[k])
		}
	}
	for k := range got {
		if cumulative(k) {
			require.Contains(t, ref, k)
		}
	}

	// No cumulative series ever fell, in any scrape of any process.
	falls, scrapes, starts := watch.finish()
	t.Logf("%d scrapes with cumulative series, from %d of %d starts", scrapes, starts, h.starts)
	require.Empty(t, falls, "cumulative series fell between scrapes")
	require.Greater(t, scrapes, 10, "the watcher saw too few scrapes to tell")
	require.GreaterOrEqual(t, starts, 2, "the watcher saw counters of too few processes to tell")

	// The restarts went through snapshots, and never found one broken.
	logs, err := os.ReadFile(h.logPath)
	require.NoError(t, err)
	require.Contains(t, string(logs), "state restored from snapshot")
	require.NotContains(t, string(logs), "skipping unreadable snapshot")
	require.NotContains(t, string(logs), "cannot use the snapshot")
	t.Logf("%d starts, %d restored from a snapshot", h.starts, strings.Count(string(logs), "state restored from snapshot"))
}

// cumulative reports whether series k is one Prometheus reads as a
// counter and that the state keeps (so survives restarts): every _total
// counter and every histogram's _count, _sum and _bucket, apart from
// process-local ones.
func cumulative(k string) bool {
	name, _, _ := strings.Cut(k, "{")
	for _, suffix := range []string{"_total", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(name, suffix) {
			return !processLocal(k)
		}
	}
	return false
}

// fallWatch scrapes the running child every 200 ms and remembers, for
// every cumulative series, the highest value served so far; a scrape that
// shows less is a fall.
type fallWatch struct {
	stop, done chan struct{}
	mu         sync.Mutex // guards the fields below, written by the scraper
	highest    map[string]float64
	falls      []string
	scrapes    int
	starts     map[int]bool // starts whose scrapes served cumulative series
}

func watchFalls(h *crashHarness) *fallWatch {
	w := &fallWatch{stop: make(chan struct{}), done: make(chan struct{}), highest: map[string]float64{}, starts: map[int]bool{}}
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			cur := h.serving.Load()
			if cur == nil {
				continue
			}
			m, err := fetchMetrics(client, cur.url)
			if err != nil {
				continue // killed, or not serving yet
			}
			w.observe(m, cur.start)
		}
	}()
	return w
}

func (w *fallWatch) observe(m map[string]float64, start int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := false
	for k, v := range m {
		if !cumulative(k) {
			continue
		}
		seen = true
		if hi, ok := w.highest[k]; ok && v < hi {
			w.falls = append(w.falls, fmt.Sprintf("start %d: %s = %v after %v", start, k, v, hi))
		}
		w.highest[k] = max(w.highest[k], v)
	}
	if seen {
		w.scrapes++
		w.starts[start] = true
	}
}

// served reports whether a scrape of the given start served cumulative
// series.
func (w *fallWatch) served(start int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts[start]
}

// finish stops the scraper and returns the falls it saw, the scrapes that
// served cumulative series and the number of starts they came from.
func (w *fallWatch) finish() (falls []string, scrapes, starts int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.falls, w.scrapes, len(w.starts)
}

// crashKind is where in the service's life a kill lands.
type crashKind int

const (
	crashAfterBurst     crashKind = iota // right after a publish burst, while it applies
	crashAfterSnapshot                   // once a snapshot taken after the burst is on disk
	crashWhileReplaying                  // a restarted process, as soon as it serves HTTP
	crashAtExec                          // a restarted process, right after exec
	numCrashKinds
)

func (k crashKind) String() string {
	return [...]string{"after a burst", "after a snapshot", "while replaying", "at exec"}[k]
}

// buildAggregator starts `go build` of this package and returns a function
// that waits for it and returns the binary's path.
func buildAggregator(t *testing.T) func() string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "aggregator")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 5 * time.Second // the compiler's children may hold the pipe
	require.NoError(t, cmd.Start())
	waited := false
	var err error
	wait := func() {
		if !waited {
			waited = true
			err = cmd.Wait()
			cancel()
		}
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return func() string {
		t.Helper()
		wait()
		require.NoError(t, err, "go build: %s", output.String())
		return out
	}
}

// crashHarness runs the binary as a child process, one at a time, always
// on the same data directory.
type crashHarness struct {
	t                              *testing.T
	bin, natsURL, dataDir, logPath string
	flags                          []string // more flags; later ones win
	starts                         int
	cur                            *child // nil while none runs
	// serving is cur for other goroutines, cleared before a kill.
	serving atomic.Pointer[child]
}

// child is one run of the binary.
type child struct {
	start int // which start of the harness
	cmd   *exec.Cmd
	url   string        // http://127.0.0.1:port
	done  chan struct{} // closed once the process has exited
	err   error         // cmd.Wait's result, set before done is closed
}

// start runs the binary; its stdout and stderr go to the shared log.
func (h *crashHarness) start() {
	t := h.t
	t.Helper()
	require.Nil(t, h.cur, "BUG: start with a child running")
	h.starts++
	logf, err := os.OpenFile(h.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = fmt.Fprintf(logf, "=== start %d ===\n", h.starts)
	require.NoError(t, err)
	addr := freeAddr(t)
	cmd := exec.Command(h.bin,
		"-nats-url", h.natsURL,
		"-http-addr", addr,
		"-data-dir", h.dataDir,
		"-snapshot-interval", "1s",
		"-as-of", testNow.Format(time.RFC3339),
		"-log-format", "json",
	)
	cmd.Args = append(cmd.Args, h.flags...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", h.bin, err)
	}
	c := &child{start: h.starts, cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	h.cur = c
	h.serving.Store(c)
}

// requireRunning fails the test if the child exited on its own.
func (h *crashHarness) requireRunning() {
	h.t.Helper()
	select {
	case <-h.cur.done:
		h.t.Fatalf("aggregator (start %d) exited on its own: %v", h.starts, h.cur.err)
	default:
	}
}

// kill sends SIGKILL to the child and waits until it is gone.
func (h *crashHarness) kill() {
	t := h.t
	t.Helper()
	c := h.cur
	h.cur = nil
	h.serving.Store(nil)
	if err := c.cmd.Process.Kill(); err != nil {
		<-c.done
		t.Fatalf("aggregator (start %d) exited before the kill: %v", h.starts, c.err)
	}
	<-c.done
	var ee *exec.ExitError
	require.ErrorAs(t, c.err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"aggregator (start %d) ended with %v, not by the kill", h.starts, c.err)
}

// terminate stops the child with SIGTERM and requires it to exit 0 within
// the shutdown timeout (30s, plus slack).
func (h *crashHarness) terminate() {
	t := h.t
	t.Helper()
	c := h.cur
	h.cur = nil
	h.serving.Store(nil)
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-c.done:
	case <-time.After(40 * time.Second):
		t.Fatal("no exit within the shutdown timeout")
	}
	require.NoError(t, c.err, "exit status 0")
}

// waitServing waits until the child answers HTTP and returns the status
// of /readyz.
func (h *crashHarness) waitServing() int {
	h.t.Helper()
	code := 0
	waitFor(h.t, 30*time.Second, "the aggregator serving HTTP", func() bool {
		h.requireRunning()
		var err error
		code, err = statusOf(h.cur.url + "/readyz")
		return err == nil
	})
	return code
}

// newestSnapshot returns the name of the newest snapshot in the data
// directory, "" when there is none; names sort by generation, the order
// they were written in.
func (h *crashHarness) newestSnapshot() string {
	h.t.Helper()
	entries, err := os.ReadDir(filepath.Join(h.dataDir, "snapshots"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(h.t, err)
	newest := ""
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "snapshot-") && strings.HasSuffix(n, ".bin") {
			newest = max(newest, n)
		}
	}
	return newest
}

// cleanup kills a running child and, when the test failed, logs the tail
// of the children's output.
func (h *crashHarness) cleanup() {
	if c := h.cur; c != nil {
		h.serving.Store(nil)
		_ = c.cmd.Process.Kill()
		<-c.done
		h.cur = nil
	}
	http.DefaultClient.CloseIdleConnections()
	if !h.t.Failed() {
		return
	}
	f, err := os.Open(h.logPath)
	if err != nil {
		h.t.Logf("aggregator log: %v", err)
		return
	}
	defer f.Close()
	var tail []string
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		tail = append(tail, s.Text())
		if len(tail) > 60 {
			tail = tail[1:]
		}
	}
	h.t.Logf("last lines of the aggregator's output (%s):\n%s", h.logPath, strings.Join(tail, "\n"))
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// statusOf returns the status code of a GET, or the error.
func statusOf(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestSIGTERM stops the real binary with SIGTERM: it finishes what it
// read, writes a final snapshot holding every applied message, and exits 0.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	build := buildAggregator(t)
	srv := natstest.Start(t)
	dir := t.TempDir()
	h := &crashHarness{t: t, bin: build(), natsURL: srv.ClientURL(), dataDir: dir, logPath: filepath.Join(dir, "log"),
		flags: []string{"-snapshot-interval", "1h"}} // only the final snapshot
	t.Cleanup(h.cleanup)
	_, js := srv.Connect(t)
	h.start()
	h.waitServing()
	requireBuildInfo(t, h.bin, scrape(t, h.cur.url))
	publish(t, js, openings(0, 200), true)
	waitFor(t, 20*time.Second, "200 openings applied", func() bool {
		code, err := statusOf(h.cur.url + "/readyz")
		if err != nil || code != http.StatusOK {
			return false
		}
		m := scrape(t, h.cur.url)
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})] == 200
	})
	require.Empty(t, h.newestSnapshot(), "no periodic snapshot yet")
	h.terminate()
	require.Equal(t, "snapshot-g00000000000000000001-s00000000000000000200.bin", h.newestSnapshot())
}

// TestRestoredCountersNeverDip: a process that restores an old snapshot
// must not serve its counters until its replay has caught up, or it would
// show less than the process before it served. The first process writes
// one snapshot (on SIGTERM) after 1,000 events; the second applies 60,000
// more, serves them, and is killed with SIGKILL before it snapshots; the
// third restores the 1,000-event snapshot and replays 60,000 events. It is
// scraped as fast as it answers, from the first moment it serves: no
// cumulative series may be lower than the second process served.
func TestRestoredCountersNeverDip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and publishes 61,000 events")
	}
	build := buildAggregator(t)
	srv := natstest.Start(t)
	dir := t.TempDir()
	h := &crashHarness{t: t, bin: build(), natsURL: srv.ClientURL(), dataDir: dir, logPath: filepath.Join(dir, "log"),
		flags: []string{"-snapshot-interval", "1h"}} // only the final snapshot on SIGTERM
	t.Cleanup(h.cleanup)
	_, js := srv.Connect(t)
	opened := key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})

	h.start()
	h.waitServing()
	publish(t, js, openings(0, 1000), true)
	waitFor(t, 30*time.Second, "1,000 openings applied", func() bool {
		m, err := fetchMetrics(http.DefaultClient, h.cur.url)
		return err == nil && m[opened] == 1000
	})
	h.terminate()

	h.start()
	publishAsync(t, js, openings(1000, 61000))
	var served map[string]float64
	waitFor(t, 60*time.Second, "61,000 openings applied", func() bool {
		h.requireRunning()
		m, err := fetchMetrics(http.DefaultClient, h.cur.url)
		served = m
		return err == nil && m[opened] == 61000
	})
	h.kill()

	h.start()
	client := &http.Client{Timeout: 2 * time.Second}
	var during, total int // scrapes while catching up, and in all
	deadline := time.Now().Add(60 * time.Second)
	for {
		h.requireRunning()
		require.False(t, time.Now().After(deadline), "the restored aggregator did not catch up within 60s")
		m, err := fetchMetrics(client, h.cur.url)
		if err != nil {
			continue // not serving yet
		}
		total++
		for k, v := range served {
			if got, ok := m[k]; ok && cumulative(k) {
				require.GreaterOrEqual(t, got, v, "scrape %d of the restored process: %s below what the killed one served", total, k)
			}
		}
		if m[opened] == 61000 && m[`helpdesk_consumer_pending_messages{}`] == 0 {
			break
		}
		during++
	}
	t.Logf("%d scrapes of the restored process, %d of them while it caught up", total, during)
	require.Positive(t, during, "no scrape landed during the replay: the test proved nothing")
	logs, err := os.ReadFile(h.logPath)
	require.NoError(t, err)
	require.Contains(t, string(logs), "state restored from snapshot")
}

// publishAsync publishes msgs with their ids without waiting for each
// acknowledgement, a few thousand at a time (so the client never has too
// many outstanding), and waits for all of them.
func publishAsync(t *testing.T, js jetstream.JetStream, msgs []message) {
	t.Helper()
	for len(msgs) > 0 {
		n := min(len(msgs), 2000)
		for _, m := range msgs[:n] {
			nm := nats.NewMsg(m.subject)
			nm.Data = m.body
			nm.Header.Set(jetstream.MsgIDHeader, m.id)
			_, err := js.PublishMsgAsync(nm)
			require.NoError(t, err)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			t.Fatal("asynchronous publishes not acknowledged within a minute")
		}
		msgs = msgs[n:]
	}
}
