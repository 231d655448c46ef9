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
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
// embedded server. Every error it returns has the NATS secrets redacted.
func run(ctx context.Context, cfg Config, log zerolog.Logger, reg *prometheus.Registry) (err error) {
	defer func() { err = redactError(err, cfg.NATSURL, cfg.NATS) }()
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
		if !loopbackHost(host) {
			// Validate let this through only with -embedded-nats-allow-remote.
			log.Warn().Str("addr", ns.Addr().String()).
				Msg("the embedded NATS server accepts unauthenticated connections from the network (-embedded-nats-allow-remote): anyone who reaches this address can publish events and read or purge the stream")
		}
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
	// Scrapes read the published view: they never wait for, or take time
	// from, the engine's loop.
	reg.MustRegister(metrics.NewCollector(eng.Latest))

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("-http-addr %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           httpapi.Handler(eng, reg, httpapi.Options{}),
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
// forever once connected. Its errors and log lines have the secrets in
// urls and auth redacted.
func connectNATS(urls string, auth NATSAuth, log zerolog.Logger) (*nats.Conn, error) {
	log = log.With().Str("component", "nats").Logger()
	opts := []nats.Option{
		nats.Name("helpdesk-kpi-aggregator"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() && !c.IsDraining() {
				log.Warn().Err(redactError(err, urls, auth)).Msg("disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", redactURLs(c.ConnectedUrl())).Msg("reconnected to NATS")
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
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, redactError(fmt.Errorf("connect to NATS at %s: %w (check -nats-url and credentials)", redactURLs(urls), err), urls, auth)
	}
	log.Info().Str("url", redactURLs(nc.ConnectedUrl())).Msg("connected to NATS")
	return nc, nil
}

// redactURLs returns a comma-separated list of URLs with the secret of
// each redacted: the password of user:password (nats://user:xxxxx@host,
// as url.URL.Redacted does) and a token, the user name alone
// (nats://REDACTED@host). What net/url cannot parse loses everything
// between the scheme and the last @.
func redactURLs(urls string) string {
	list := strings.Split(urls, ",")
	for i, u := range list {
		trimmed := strings.TrimSpace(u)
		list[i] = strings.Replace(u, trimmed, redactURL(trimmed), 1)
	}
	return strings.Join(list, ",")
}

// redactURL is redactURLs for one URL.
func redactURL(u string) string {
	p, err := url.Parse(u)
	switch {
	case err == nil && p.User == nil && p.Host != "":
		return u
	case err == nil && p.User != nil:
		if _, ok := p.User.Password(); ok {
			return p.Redacted()
		}
		p.User = url.User("REDACTED")
		return p.String()
	}
	at := strings.LastIndex(u, "@")
	if at < 0 {
		return u
	}
	start := 0
	if i := strings.Index(u, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return u[:start] + "REDACTED" + u[at:]
}

// natsRedactor replaces, in a text, each of the comma-separated urls by
// its redacted form, and then every password and token they or auth hold
// by REDACTED: for errors of nats.go and net/url, which quote URLs as
// given.
func natsRedactor(urls string, auth NATSAuth) *strings.Replacer {
	var pairs, secrets []string
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if r := redactURL(u); r != u {
			pairs = append(pairs, u, r)
		}
		if p, err := url.Parse(u); err == nil && p.User != nil {
			secret, ok := p.User.Password()
			if !ok {
				secret = p.User.Username()
			}
			secrets = append(secrets, secret, url.QueryEscape(secret), url.PathEscape(secret))
		}
	}
	secrets = append(secrets, auth.Password)
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "REDACTED")
		}
	}
	return strings.NewReplacer(pairs...)
}

// redactError returns err with the secrets of urls and auth redacted from
// its text; errors.Is and errors.As still see the original.
func redactError(err error, urls string, auth NATSAuth) error {
	if err == nil {
		return nil
	}
	text := natsRedactor(urls, auth).Replace(err.Error())
	if text == err.Error() {
		return err
	}
	return &redactedError{text: text, err: err}
}

// redactedError is an error whose text has the secrets redacted.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

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
