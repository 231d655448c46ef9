package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// process is one in-process run(), started by goRun.
type process struct {
	t      *testing.T
	cancel context.CancelFunc // the in-process SIGTERM
	done   chan error
	addr   chan string // the HTTP address, once bound
	err    error
	ended  bool
}

// goRun starts run(cfg) with a fresh registry; the test ends it, or its
// cleanup cancels it and waits for it.
func goRun(t *testing.T, cfg Config) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{t: t, cancel: cancel, done: make(chan error, 1), addr: make(chan string, 1)}
	if cfg.listening == nil {
		cfg.listening = func(a string) { p.addr <- a }
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() { p.done <- run(ctx, cfg, log, prometheus.NewRegistry()) }()
	t.Cleanup(func() {
		cancel()
		if !p.ended {
			select {
			case err := <-p.done:
				if err != nil {
					t.Logf("run, stopped at the end of the test: %v", err)
				}
			case <-time.After(time.Minute):
				t.Error("run did not return within a minute of the end of the test")
			}
		}
	})
	return p
}

// serving waits until the HTTP listener is bound and returns its base URL.
func (p *process) serving() string {
	p.t.Helper()
	select {
	case a := <-p.addr:
		return "http://" + a
	case err := <-p.done:
		p.ended, p.err = true, err
		p.t.Fatalf("run returned before serving: %v", err)
	case <-time.After(30 * time.Second):
		p.t.Fatal("run did not start serving within 30s")
	}
	return ""
}

// wait returns run's result, failing the test when it does not come
// within d.
func (p *process) wait(d time.Duration) error {
	p.t.Helper()
	if !p.ended {
		select {
		case p.err = <-p.done:
			p.ended = true
		case <-time.After(d):
			p.t.Fatalf("run did not return within %v", d)
		}
	}
	return p.err
}

// lifecycleConfig is the default configuration against natsURL (the
// embedded server when empty), on a free HTTP port, a fresh data directory
// and the tests' fixed clock, with only the final snapshot.
func lifecycleConfig(t *testing.T, natsURL string) Config {
	cfg := DefaultConfig()
	cfg.NATSURL = natsURL
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.SnapshotInterval = time.Hour
	cfg.now = func() time.Time { return testNow }
	return cfg
}

// refused says whether nothing listens on addr (host:port) any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return true
	}
	_ = c.Close()
	return false
}

// waitOpened waits until a scrape of baseURL counts n ticket.opened events.
func waitOpened(t *testing.T, baseURL string, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d openings applied", n), func() bool {
		m, err := fetchMetrics(http.DefaultClient, baseURL)
		return err == nil && m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})] == float64(n)
	})
}

// TestLifecycleCancelStopsEverything runs every component (the embedded
// NATS server, the consumer, the engine, HTTP and pprof) and cancels:
// run returns nil, the final snapshot holds every applied event, and
// every listener is closed by the time run returns.
func TestLifecycleCancelStopsEverything(t *testing.T) {
	cfg := lifecycleConfig(t, "")
	cfg.EmbeddedNATSAddr = freeAddr(t)
	cfg.PprofAddr = freeAddr(t)
	require.NoError(t, cfg.Validate())
	p := goRun(t, cfg)
	url := p.serving()

	nc, err := nats.Connect("nats://"+cfg.EmbeddedNATSAddr, nats.NoReconnect())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	publish(t, js, openings(0, 20), true)
	waitOpened(t, url, 20)
	code, err := statusOf("http://" + cfg.PprofAddr + "/debug/pprof/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "pprof serves")
	nc.Close()

	p.cancel()
	require.NoError(t, p.wait(30*time.Second))
	entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "snapshots"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "the final snapshot, and no other")
	require.Equal(t, "snapshot-g00000000000000000001-s00000000000000000020.bin", entries[0].Name())
	require.True(t, refused(strings.TrimPrefix(url, "http://")), "HTTP stopped")
	require.True(t, refused(cfg.PprofAddr), "pprof stopped")
	require.True(t, refused(cfg.EmbeddedNATSAddr), "the embedded NATS server stopped")
}

// stuckStore is a directory store whose Put blocks until the test
// releases it (then it fails, writing nothing), as a hung disk or object
// store would.
type stuckStore struct {
	snapshot.Store
	entered chan struct{} // closed when the first Put starts
	release chan struct{} // closed by the test
	once    sync.Once
}

func (s *stuckStore) Put(ctx context.Context, _ string, _ []byte) error {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.release:
		return errors.New("released by the test")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestShutdownTimeoutHoldsWithAStuckSnapshot cancels while the final
// snapshot cannot be written: run gives up at -shutdown-timeout, with an
// error that says so and names what it waited for, instead of waiting for
// the store.
func TestShutdownTimeoutHoldsWithAStuckSnapshot(t *testing.T) {
	srv := natstest.Start(t)
	cfg := lifecycleConfig(t, srv.ClientURL())
	cfg.ShutdownTimeout = time.Second
	dir, err := snapshot.NewDir(filepath.Join(cfg.DataDir, "snapshots"), snapshot.OS{})
	require.NoError(t, err)
	store := &stuckStore{Store: dir, entered: make(chan struct{}), release: make(chan struct{})}
	cfg.snapshotStore = store
	require.NoError(t, cfg.Validate())
	p := goRun(t, cfg)
	url := p.serving()
	nc, js := srv.Connect(t)
	publish(t, js, openings(0, 20), true)
	waitOpened(t, url, 20)
	nc.Close()

	cancelled := time.Now()
	p.cancel()
	deadline := time.After(cfg.ShutdownTimeout + 2*time.Second)
	select {
	case <-store.entered:
	case <-deadline:
		t.Fatal("the final snapshot was not started")
	}
	var runErr error
	select {
	case runErr = <-p.done:
		p.ended = true
	case <-deadline:
		t.Fatal("run did not return within -shutdown-timeout plus 2s")
	}
	took := time.Since(cancelled)
	require.GreaterOrEqual(t, took, cfg.ShutdownTimeout, "run gave the stop its -shutdown-timeout")
	require.ErrorContains(t, runErr, "shutdown took longer than -shutdown-timeout 1s")
	require.ErrorContains(t, runErr, "write the final snapshot")
	require.ErrorContains(t, runErr, "the stream still holds everything after the last snapshot")
	t.Logf("run returned %v after the cancellation: %v", took, runErr)

	// What was left behind ends once the store lets go: the engine, then
	// HTTP and the NATS connection, which the server sees close.
	close(store.release)
	waitFor(t, 20*time.Second, "the aggregator's NATS connection to close", func() bool { return srv.NumClients() == 0 })
}

// TestCancelAtAnyMomentReturnsNil cancels run before it starts, at the
// moment it binds its HTTP listener (before any component runs), and at
// a spread of moments after it starts and after it binds: every time it
// returns nil. The delays only spread the moments; nothing waits on them.
func TestCancelAtAnyMomentReturnsNil(t *testing.T) {
	srv := natstest.Start(t)
	type moment struct {
		name  string
		setup func(cfg *Config, cancel context.CancelFunc) // before run
	}
	moments := []moment{
		{"before run", func(_ *Config, cancel context.CancelFunc) { cancel() }},
		{"when listening", func(cfg *Config, cancel context.CancelFunc) {
			cfg.listening = func(string) { cancel() }
		}},
	}
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		moments = append(moments, moment{fmt.Sprintf("%v after run starts", d), func(_ *Config, cancel context.CancelFunc) {
			time.AfterFunc(d, cancel)
		}})
	}
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		50 * time.Millisecond, 200 * time.Millisecond} {
		moments = append(moments, moment{fmt.Sprintf("%v after listening", d), func(cfg *Config, cancel context.CancelFunc) {
			cfg.listening = func(string) { time.AfterFunc(d, cancel) }
		}})
	}
	for _, m := range moments {
		t.Run(m.name, func(t *testing.T) {
			cfg := lifecycleConfig(t, srv.ClientURL())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m.setup(&cfg, cancel)
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), prometheus.NewRegistry())
			}()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("run did not return within 30s of the cancellation")
			}
		})
	}
}

// TestLifecycleComponentFailureStopsTheRest makes the HTTP server fail as
// it starts (its -web-config-file is gone): run stops every other
// component and returns the HTTP server's error, wrapped to say so.
func TestLifecycleComponentFailureStopsTheRest(t *testing.T) {
	srv := natstest.Start(t)
	cfg := lifecycleConfig(t, srv.ClientURL())
	cfg.WebConfigFile = filepath.Join(t.TempDir(), "web.yml") // never written
	p := goRun(t, cfg)
	url := p.serving()
	err := p.wait(30 * time.Second)
	require.ErrorContains(t, err, "HTTP server: ")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.True(t, refused(strings.TrimPrefix(url, "http://")), "the HTTP listener is closed")
	waitFor(t, 20*time.Second, "the aggregator's NATS connection to close", func() bool { return srv.NumClients() == 0 })
}
