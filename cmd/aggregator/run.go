package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/engine"
	"github.com/helpdesk-kpi/aggregator/internal/httpapi"
	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/metrics"
	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// run wires the aggregator and runs it until ctx ends or a component fails.
// Shutdown goes from the outside in: stop consuming, apply what was
// handed over, stop serving HTTP, close the NATS connection, stop the
// embedded server.
func run(ctx context.Context, cfg Config, log zerolog.Logger, reg *prometheus.Registry) error {
	if cfg.NATSURL == "" || cfg.SnapshotStore == "dir" {
		// Only what lives there needs it: a read-only root file system
		// with an external NATS and object store snapshots works.
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return fmt.Errorf("-data-dir: %w", err)
		}
	}
	natsURL := cfg.NATSURL
	if natsURL == "" {
		host, port, _ := natsserver.ParseAddr(cfg.EmbeddedNATSAddr)
		always, interval, _ := cfg.embeddedSync()
		ns, err := natsserver.Start(natsserver.Config{Host: host, Port: port, StoreDir: filepath.Join(cfg.DataDir, "jetstream"),
			SyncAlways: always, SyncInterval: interval})
		if err != nil {
			return fmt.Errorf("%w (set -embedded-nats-addr to a free address, or -nats-url to use an existing NATS)", err)
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			log.Info().Msg("embedded NATS stopped")
		}()
		natsURL = ns.ClientURL()
		log.Info().Str("url", natsURL).Str("store", filepath.Join(cfg.DataDir, "jetstream")).Msg("embedded NATS started")
	}
	nc, err := connectNATS(natsURL, cfg.NATS, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	consumer, err := ingest.New(cfg.Ingest, nc, log, reg, cfg.now)
	if err != nil {
		return err
	}
	setupCtx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	stream, err := consumer.EnsureStream(setupCtx)
	cancelSetup()
	if err != nil {
		return err
	}

	snapshots, err := openSnapshots(ctx, cfg, nc, log, reg)
	if err != nil {
		return err
	}
	state, applied, err := restore(ctx, cfg, snapshots, log)
	if err != nil {
		return err
	}
	start, err := consumer.StartSeq(ctx, stream, applied)
	if err != nil {
		return err
	}
	eng := engine.New(state, cfg.now, engine.Config{
		Tick: time.Second, SnapshotEvery: cfg.SnapshotInterval, Snapshots: snapshots,
		AppliedSeq: applied.Seq, StreamCreated: applied.StreamCreated,
	}, log)
	reg.MustRegister(metrics.NewCollector(func() *kpi.Snapshot {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return eng.Fresh(ctx)
	}))

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("-http-addr %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           httpapi.Handler(eng, reg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info().Str("addr", ln.Addr().String()).Bool("web_config", cfg.WebConfigFile != "").Msg("serving HTTP")
	if cfg.listening != nil {
		cfg.listening(ln.Addr().String())
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	batches := make(chan *ingest.Batch, 2)
	consumerErr := make(chan error, 1)
	engineDone := make(chan struct{})
	httpErr := make(chan error, 1)
	go func() { consumerErr <- consumer.Run(consumeCtx, stream, start, batches) }()
	go func() { eng.Run(batches); close(engineDone) }()
	go func() {
		webCfg := &web.FlagConfig{WebConfigFile: &cfg.WebConfigFile}
		httpErr <- web.Serve(ln, srv, webCfg, slog.New(zerolog.NewSlogHandler(log.With().Str("component", "http").Logger())))
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("stopping")
	case err := <-consumerErr:
		runErr = err
		consumerErr <- err
	case err := <-httpErr:
		runErr = fmt.Errorf("HTTP server: %w", err)
	}
	// Stop consuming; the engine applies what was handed over and writes
	// the final snapshot.
	stopConsuming()
	deadline := time.NewTimer(cfg.ShutdownTimeout)
	defer deadline.Stop()
	select {
	case err := <-consumerErr:
		if err != nil && runErr == nil {
			runErr = err
		}
	case <-deadline.C:
	}
	select {
	case <-engineDone:
	case <-deadline.C:
		return errors.Join(runErr, fmt.Errorf("shutdown took longer than -shutdown-timeout %v; the stream still holds everything after the last snapshot", cfg.ShutdownTimeout))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn().Err(err).Msg("HTTP shutdown")
	}
	if err := nc.Drain(); err != nil {
		log.Warn().Err(err).Msg("NATS drain")
	}
	log.Info().Msg("stopped")
	return runErr
}

// connectNATS connects with every configured credential, reconnecting
// forever once connected.
func connectNATS(url string, auth NATSAuth, log zerolog.Logger) (*nats.Conn, error) {
	log = log.With().Str("component", "nats").Logger()
	opts := []nats.Option{
		nats.Name("helpdesk-kpi-aggregator"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() && !c.IsDraining() {
				log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
	}
	if auth.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(auth.CredsFile))
	}
	if auth.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(auth.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if auth.User != "" {
		opts = append(opts, nats.UserInfo(auth.User, auth.Password))
	}
	if auth.TLSCA != "" {
		opts = append(opts, nats.RootCAs(auth.TLSCA))
	}
	if auth.TLSCert != "" {
		opts = append(opts, nats.ClientCert(auth.TLSCert, auth.TLSKey))
	}
	if auth.TLSCA != "" || auth.TLSCert != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (check -nats-url and credentials)", url, err)
	}
	log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
	return nc, nil
}

// openSnapshots opens the configured snapshot store.
func openSnapshots(ctx context.Context, cfg Config, nc *nats.Conn, log zerolog.Logger, reg prometheus.Registerer) (*snapshot.Manager, error) {
	var store snapshot.Store
	switch cfg.SnapshotStore {
	case "objectstore":
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, err
		}
		setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if store, err = snapshot.NewObjects(setupCtx, js, cfg.SnapshotBucket); err != nil {
			return nil, err
		}
	default:
		dir, err := snapshot.NewDir(filepath.Join(cfg.DataDir, "snapshots"), snapshot.OS{})
		if err != nil {
			return nil, err
		}
		store = dir
	}
	return snapshot.NewManager(store, log, reg), nil
}

// restore returns the state of the newest good snapshot and the stream
// position it includes, or a fresh state and the zero position when there
// is none (or it does not fit the configuration).
func restore(ctx context.Context, cfg Config, snapshots *snapshot.Manager, log zerolog.Logger) (*kpi.State, ingest.Position, error) {
	start := time.Now()
	snap, ok, err := snapshots.Load(ctx)
	if err != nil {
		return nil, ingest.Position{}, err
	}
	if ok {
		state, err := kpi.Restore(cfg.KPI, snap.State)
		if err == nil {
			log.Info().Uint64("stream_seq", snap.Seq).Time("stream_created", snap.StreamCreated).Uint64("generation", snap.Generation).
				Time("taken_at", snap.TakenAt).Dur("took", time.Since(start)).
				Int("tracked_tickets", state.Tracked()).Msg("state restored from snapshot; replaying the stream after it")
			return state, ingest.Position{Seq: snap.Seq, StreamCreated: snap.StreamCreated}, nil
		}
		snapshots.Corrupt()
		log.Error().Err(err).Uint64("stream_seq", snap.Seq).Msg("cannot use the snapshot; rebuilding the state from the stream")
	} else {
		log.Info().Msg("no snapshot; building the state from the stream")
	}
	state, err := kpi.New(cfg.KPI, cfg.now().UnixNano())
	return state, ingest.Position{}, err
}

// servePprof serves the Go profiler on its own listener, so that it is
// never exposed where /metrics is.
func servePprof(addr string, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	log.Warn().Str("addr", ln.Addr().String()).Msg("serving pprof; keep this address private")
	return func() { _ = srv.Close() }, nil
}
