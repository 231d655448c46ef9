package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	oklogrun "github.com/oklog/run" // This file's run function has the name run.
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/engine"
	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/httpapi"
	"github.com/helpdesk-kpi/aggregator/internal/httpingest"
	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/metrics"
	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// run wires the aggregator and runs it until ctx ends or a component fails.
// Every error it returns has the NATS secrets redacted.
//
// Each long-lived component is an actor of one oklog/run Group; the group
// below is the stop order. When ctx ends, run returns nil; when a component
// fails, the rest stop and run returns that component's error. Either way
// -shutdown-timeout bounds the stop: past it, run returns an error without
// waiting any longer.
func run(ctx context.Context, cfg Config, log zerolog.Logger, reg *prometheus.Registry) (err error) {
	defer func() { err = redactError(err, cfg.NATSURL, cfg.NATS) }()
	// Until the group runs, what setup started is stopped here, newest
	// first, when a later step fails; once it runs, the actors stop it.
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	// A setup step that waits on ctx fails when ctx ends: that is a stop
	// asked for, not a failure.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			log.Info().Err(err).Msg("stopped while starting")
			return nil
		}
		return err
	}

	logConfig(log, cfg)
	if cfg.NATSURL == "" || cfg.SnapshotStore == "dir" {
		// Only what lives there needs it: a read-only root file system
		// with an external NATS and object store snapshots works.
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return fmt.Errorf("-data-dir: %w", err)
		}
	}
	// Every listener first: a port in use fails at once, before anything
	// waits for NATS.
	ln, err := listen("-http-addr", cfg.HTTPAddr, "another aggregator?")
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = ln.Close() })
	var pprofSrv *http.Server
	var pprofLn net.Listener
	if cfg.PprofAddr != "" {
		if pprofSrv, pprofLn, err = listenPprof(cfg.PprofAddr, log); err != nil {
			return err
		}
		undo = append(undo, func() { _ = pprofLn.Close() })
	}
	natsURL := cfg.NATSURL
	var ns *server.Server
	if natsURL == "" {
		host, port, _ := natsserver.ParseAddr(cfg.EmbeddedNATSAddr)
		if err := portFree("-embedded-nats-addr", cfg.EmbeddedNATSAddr, "another aggregator or NATS server?"); err != nil {
			return err
		}
		always, interval, _ := cfg.embeddedSync()
		var err error
		ns, err = natsserver.Start(natsserver.Config{Host: host, Port: port, StoreDir: filepath.Join(cfg.DataDir, "jetstream"),
			SyncAlways: always, SyncInterval: interval})
		if err != nil {
			return fmt.Errorf("%w (set -embedded-nats-addr to a free address, or -nats-url to use an existing NATS)", err)
		}
		undo = append(undo, func() { ns.Shutdown(); ns.WaitForShutdown() })
		natsURL = ns.ClientURL()
		log.Info().Str("url", natsURL).Str("store", filepath.Join(cfg.DataDir, "jetstream")).Msg("embedded NATS started")
		if !loopbackHost(host) {
			// Validate let this through only with -embedded-nats-allow-remote.
			log.Warn().Str("addr", ns.Addr().String()).
				Msg("the embedded NATS server accepts unauthenticated connections from the network (-embedded-nats-allow-remote): anyone who reaches this address can publish events and read or purge the stream")
		}
	}

	// HTTP serves from here on: /healthz answers while the rest starts,
	// and /readyz says what the start waits for (phase), until the API
	// replaces the start-up handler once the engine exists.
	phase := &httpapi.Phase{}
	phase.Set("starting")
	var handler atomic.Pointer[http.Handler]
	starting := httpapi.Starting(phase, reg)
	handler.Store(&starting)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	// httpErr is the HTTP server's end, to read once httpExited is closed.
	var httpErr error
	httpExited := make(chan struct{})
	go func() {
		defer close(httpExited)
		webCfg := &web.FlagConfig{WebConfigFile: &cfg.WebConfigFile}
		err := web.Serve(ln, srv, webCfg, slog.New(zerolog.NewSlogHandler(log.With().Str("component", "http").Logger())))
		_ = ln.Close() // web.Serve leaves it open when it fails before serving
		if !errors.Is(err, http.ErrServerClosed) {
			httpErr = fmt.Errorf("HTTP server: %w", err)
		}
	}()
	undo = append(undo, func() { _ = srv.Close(); <-httpExited })
	log.Info().Str("addr", ln.Addr().String()).Bool("web_config", cfg.WebConfigFile != "").Msg("serving HTTP; /readyz answers 503 until the state is restored and caught up")
	if cfg.bound != nil {
		cfg.bound(ln.Addr().String())
	}

	nc, err := connectNATSRetrying(ctx, natsURL, cfg.NATS, log, phase, httpExited)
	if errors.Is(err, errHTTPExited) {
		return httpErr
	}
	if err != nil {
		return stopped(err)
	}
	undo = append(undo, nc.Close)
	// The connection reconnects forever, so only Close or the end of a
	// Drain closes it: no close is missed before the handler is set.
	ncClosed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(ncClosed) })

	consumer, err := ingest.New(cfg.Ingest, cfg.KPI.MaxClockSkew, nc, log, reg, cfg.now)
	if err != nil {
		return err
	}
	if cfg.Ingest.CreateStream {
		phase.Set("creating the stream %s (or checking it)", cfg.Ingest.Stream)
	} else {
		phase.Set("looking up the stream %s", cfg.Ingest.Stream)
	}
	setupCtx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	stream, err := consumer.EnsureStream(setupCtx)
	cancelSetup()
	if err != nil {
		return stopped(err)
	}

	phase.Set("opening the snapshot store (-snapshot-store %s)", cfg.SnapshotStore)
	snapshots, err := openSnapshots(ctx, cfg, nc, log, reg)
	if err != nil {
		return stopped(err)
	}
	phase.Set("restoring the snapshot")
	state, applied, err := restore(ctx, cfg, snapshots, log)
	if err != nil {
		return stopped(err)
	}
	phase.Set("finding where to resume in the stream %s", cfg.Ingest.Stream)
	start, err := consumer.StartSeq(ctx, stream, applied)
	if err != nil {
		return stopped(err)
	}
	eng := engine.New(state, cfg.now, engine.Config{
		PublishEvery: time.Second, SaveEvery: cfg.SnapshotInterval, Snapshots: snapshots,
		AppliedSeq: applied.Seq, StreamCreated: applied.StreamCreated,
	}, log)
	// Scrapes read the published view: they never wait for, or take time
	// from, the engine's loop.
	reg.MustRegister(metrics.NewCollector(eng.Latest))

	ingestCfg, err := httpIngestConfig(cfg.HTTPIngest, cfg)
	if err != nil {
		return stopped(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return stopped(err)
	}
	ingestHTTP, err := httpingest.New(ingestCfg, httpingest.JetStream{JS: js}, log.With().Str("component", "httpingest").Logger(), reg, cfg.now)
	if err != nil {
		return stopped(err)
	}
	phase.Set("catching up with the stream %s", cfg.Ingest.Stream)
	mux := http.NewServeMux()
	ingestHTTP.Register(mux)
	mux.Handle("/", httpapi.Handler(eng, reg, httpapi.Options{Phase: phase}))
	var api http.Handler = mux
	handler.Store(&api)
	log.Info().Str("addr", ln.Addr().String()).Msg("serving the API")
	if cfg.listening != nil {
		cfg.listening(ln.Addr().String())
	}

	// The group calls the interrupts one after another, in the order the
	// actors are added, with the error of the actor that returned first
	// (nil when ctx ended). An interrupt that must finish before the next
	// one starts waits for its component to stop, so the order below is
	// the stop order: stop consuming; the engine applies what was handed
	// over and writes the final snapshot; stop serving HTTP and pprof;
	// drain and close the NATS connection; stop the embedded server.
	//
	// The first interrupt records why the group stops and closes
	// stopping, which starts the -shutdown-timeout clock below; stage
	// names what the stop is waiting for, for the timeout's error.
	var g oklogrun.Group
	stopping := make(chan struct{})
	var cause error
	var stage atomic.Pointer[string]
	waitingFor := func(what string) { stage.Store(&what) }
	{
		// Stop: ends when ctx does. Its interrupt is the first the
		// group calls, whichever actor ended.
		g.Add(func() error {
			select {
			case <-ctx.Done():
			case <-stopping:
			}
			return nil
		}, func(err error) {
			log.Info().Err(err).Msg("stopping")
			cause = err
			close(stopping)
		})
	}
	batches := make(chan *events.Batch, 2)
	{
		// Consumer: reads the stream and hands batches to the engine
		// until consumeCtx ends; then it hands over what it decoded and
		// closes batches. consumeCtx is not ctx's child: only the
		// interrupt stops consuming, so that a cancelled ctx is never
		// mistaken for a consumer failure.
		consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
		defer stopConsuming()
		g.Add(func() error {
			err := consumer.Run(consumeCtx, stream, start, batches)
			if err != nil && consumeCtx.Err() != nil {
				// Failing once asked to stop is part of stopping: a
				// request cut short, like creating the consumer.
				log.Debug().Err(err).Msg("consumer stopped")
				return nil
			}
			if err != nil {
				return fmt.Errorf("consumer: %w", err)
			}
			return nil
		}, func(error) {
			stopConsuming()
		})
	}
	{
		// Engine, and the snapshot writer inside it: applies batches
		// until the consumer closes them, then writes the final
		// snapshot. Nothing else stops it, so that every batch handed
		// over is applied. Its interrupt waits for that, which keeps HTTP
		// and NATS (the final snapshot may go to the object store over
		// it) up until then.
		engineDone := make(chan struct{})
		g.Add(func() error {
			eng.Run(batches)
			close(engineDone)
			// The engine ends only after the consumer, and the
			// consumer's end (with its error) is what stops the group:
			// the engine must not be the first to return, with nil.
			<-stopping
			return nil
		}, func(error) {
			waitingFor("the consumer to stop and the engine to apply what was handed over and write the final snapshot")
			<-engineDone
		})
	}
	{
		// HTTP: serves /metrics and the API (since before the group ran)
		// until Shutdown, which lets the requests in flight finish
		// (within -shutdown-timeout) and then closes the rest.
		g.Add(func() error {
			<-httpExited
			return httpErr
		}, func(error) {
			waitingFor("HTTP requests in flight")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				log.Warn().Err(err).Msg("HTTP shutdown; closing the connections left")
				_ = srv.Close()
			}
		})
	}
	if pprofSrv != nil {
		// Pprof: serves the profiler until Close, which cuts profiles in
		// flight.
		g.Add(func() error {
			err := pprofSrv.Serve(pprofLn)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("pprof server: %w", err)
		}, func(error) {
			_ = pprofSrv.Close()
		})
	}
	{
		// NATS connection: lives until it is closed. Its interrupt
		// drains it (what was published, like dead letters, is flushed)
		// and waits until it is closed.
		g.Add(func() error {
			<-ncClosed
			select {
			case <-stopping:
				return nil
			default:
				return errors.New("NATS connection closed")
			}
		}, func(error) {
			waitingFor("the NATS connection to drain")
			if err := nc.Drain(); err != nil {
				log.Warn().Err(err).Msg("NATS drain; closing")
				nc.Close()
			}
			<-ncClosed
		})
	}
	if ns != nil {
		// Embedded NATS server: runs until shut down, last, once nothing
		// here uses it.
		g.Add(func() error {
			ns.WaitForShutdown()
			select {
			case <-stopping:
				return nil
			default:
				return errors.New("embedded NATS server stopped")
			}
		}, func(error) {
			waitingFor("the embedded NATS server to stop")
			ns.Shutdown()
			ns.WaitForShutdown()
			log.Info().Msg("embedded NATS stopped")
		})
	}

	undo = nil // the actors stop everything from here on
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	<-stopping // Run calls the first interrupt before it returns
	timeout := time.NewTimer(cfg.ShutdownTimeout)
	defer timeout.Stop()
	select {
	case err := <-done:
		log.Info().Msg("stopped")
		return err
	case <-timeout.C:
		// The components still stopping are left behind, with the
		// goroutine of g.Run: they end if and when they do (the process
		// exits on this error; a test's goroutines end when it unblocks
		// what it blocked).
		what := "the stop"
		if s := stage.Load(); s != nil {
			what = *s
		}
		return errors.Join(cause, fmt.Errorf("shutdown took longer than -shutdown-timeout %v (waiting for %s); the stream still holds everything after the last snapshot",
			cfg.ShutdownTimeout, what))
	}
}

// Backoff of the first connection to NATS: the delay after the first
// failure, doubled after each one up to the last.
const (
	connectRetryFirst = time.Second
	connectRetryMax   = 30 * time.Second
)

// errHTTPExited is connectNATSRetrying giving up because the HTTP server ended.
var errHTTPExited = errors.New("the HTTP server stopped")

// connectNATSRetrying makes the first connection to NATS. A failure that waiting
// can cure (no server listening yet, a timeout, a name not resolving yet)
// is logged and retried with backoff, with phase saying so for /readyz,
// until ctx ends (its error returned) or httpExited is closed
// (errHTTPExited); a failure that waiting cannot cure (credentials, TLS
// verification, a file) is returned at once. Its errors, log lines and
// phases have the secrets of urls and auth redacted.
func connectNATSRetrying(ctx context.Context, urls string, auth NATSAuth, log zerolog.Logger, phase *httpapi.Phase, httpExited <-chan struct{}) (*nats.Conn, error) {
	at := redactURLs(urls)
	delay := connectRetryFirst
	for attempt := 1; ; attempt++ {
		phase.Set("connecting to NATS at %s", at)
		nc, err := dialNATS(urls, auth, log)
		if err == nil {
			log.Info().Str("component", "nats").Str("url", redactURLs(nc.ConnectedUrl())).Int("attempt", attempt).Msg("connected to NATS")
			return nc, nil
		}
		if !retryableConnectError(err) {
			return nil, redactError(fmt.Errorf("connect to NATS at %s: %w (check -nats-url and credentials)", at, err), urls, auth)
		}
		err = redactError(err, urls, auth)
		phase.Set("connecting to NATS at %s: %v; retrying in %v", at, err, delay)
		log.Warn().Str("component", "nats").Err(err).Str("url", at).Int("attempt", attempt).Float64("retry_in_seconds", delay.Seconds()).
			Msg("cannot connect to NATS; retrying (check -nats-url if this goes on)")
		wait := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, fmt.Errorf("connecting to NATS at %s: %w", at, ctx.Err())
		case <-httpExited:
			wait.Stop()
			return nil, errHTTPExited
		case <-wait.C:
		}
		delay = min(2*delay, connectRetryMax)
	}
}

// retryableConnectError says whether a failed connection may succeed
// later without a change of configuration: not when the server refuses
// the credentials, when TLS cannot verify or is not agreed on, or when a
// local file (credentials, nkey seed, certificates) cannot be read.
func retryableConnectError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		file     *fs.PathError
	)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		errors.Is(err, nats.ErrAccountAuthExpired), errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted),
		errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &file):
		return false
	}
	return !strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// connectNATS connects once, for a client that does not wait for NATS
// (simulate). Its errors and log lines have the secrets in urls and auth
// redacted.
func connectNATS(urls string, auth NATSAuth, log zerolog.Logger) (*nats.Conn, error) {
	nc, err := dialNATS(urls, auth, log)
	if err != nil {
		return nil, redactError(fmt.Errorf("connect to NATS at %s: %w (check -nats-url and credentials)", redactURLs(urls), err), urls, auth)
	}
	log.Info().Str("component", "nats").Str("url", redactURLs(nc.ConnectedUrl())).Msg("connected to NATS")
	return nc, nil
}

// dialNATS connects once with every configured credential, reconnecting
// forever once connected. The log lines of its callbacks have the
// secrets in urls and auth redacted; its error does not.
func dialNATS(urls string, auth NATSAuth, log zerolog.Logger) (*nats.Conn, error) {
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
	return nats.Connect(urls, opts...)
}

// listen listens on addr, the value of flagName; a port in use says so,
// who may hold it, and which flag chooses another.
func listen(flagName, addr, who string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s %s: port already in use (%s); choose another with %s", flagName, addr, who, flagName)
		}
		return nil, fmt.Errorf("%s %s: %w", flagName, addr, err)
	}
	return ln, nil
}

// portFree fails, as listen does, when the port of addr is taken: for a
// server that listens itself (the embedded NATS server, which would only
// time out). Port 0 or -1 picks a free one.
func portFree(flagName, addr, who string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" || port == "-1" {
		return nil
	}
	ln, err := listen(flagName, addr, who)
	if err != nil {
		return err
	}
	return ln.Close()
}

// logConfig logs the effective configuration on one line. No secret is in
// it: URLs have their password or token redacted, the NATS password is
// only said to be set, and files (credentials, nkey seed, certificates,
// tokens, webhook secrets) are named, never read here.
func logConfig(log zerolog.Logger, cfg Config) {
	seconds := func(d time.Duration) float64 { return d.Seconds() }
	windows := make([]string, len(cfg.KPI.Windows))
	for i, w := range cfg.KPI.Windows {
		windows[i] = w.Name
	}
	policies := make([]string, len(cfg.KPI.SLA.Policies))
	for i, p := range cfg.KPI.SLA.Policies {
		policies[i] = p.Name
	}
	webhooks := zerolog.Dict()
	for _, name := range slices.Sorted(maps.Keys(cfg.HTTPIngest.Webhooks)) {
		webhooks.Dict(name, zerolog.Dict().Str("secret_file", cfg.HTTPIngest.Webhooks[name].SecretFile))
	}
	nats := zerolog.Dict().
		Str("url", redactURLs(cfg.NATSURL)).
		Str("creds_file", cfg.NATS.CredsFile).
		Str("nkey_file", cfg.NATS.NKeyFile).
		Str("user", cfg.NATS.User).
		Bool("password_set", cfg.NATS.Password != "").
		Str("tls_ca", cfg.NATS.TLSCA).
		Str("tls_cert", cfg.NATS.TLSCert).
		Str("tls_key", cfg.NATS.TLSKey)
	if cfg.NATSURL == "" {
		nats = nats.Str("embedded_addr", cfg.EmbeddedNATSAddr).
			Bool("embedded_allow_remote", cfg.EmbeddedNATSAllowRemote).
			Str("embedded_sync", cfg.EmbeddedNATSSync)
	}
	log.Info().Dict("config", zerolog.Dict().
		Dict("nats", nats).
		Str("http_addr", cfg.HTTPAddr).
		Str("web_config_file", cfg.WebConfigFile).
		Str("pprof_addr", cfg.PprofAddr).
		Str("config_file", cfg.ConfigFile).
		Str("data_dir", cfg.DataDir).
		Str("log_level", cfg.LogLevel).
		Str("log_format", cfg.LogFormat).
		Float64("snapshot_interval_seconds", seconds(cfg.SnapshotInterval)).
		Str("snapshot_store", cfg.SnapshotStore).
		Str("snapshot_bucket", cfg.SnapshotBucket).
		Float64("shutdown_timeout_seconds", seconds(cfg.ShutdownTimeout)).
		Str("as_of", cfg.AsOf).
		Str("memory_limit", cfg.MemoryLimit).
		Dict("kpi", zerolog.Dict().
			Strs("windows", windows).
			Floats64("quantiles", cfg.KPI.Quantiles).
			Strs("channels", cfg.KPI.Channels).
			Strs("teams", cfg.KPI.Teams).
			Int("max_teams", cfg.KPI.MaxTeams).
			Int("agents", len(cfg.KPI.Agents)).
			Int("max_agents", cfg.KPI.MaxAgents).
			Float64("hold_for_seconds", seconds(cfg.KPI.HoldFor)).
			Float64("retain_resolved_seconds", seconds(cfg.KPI.RetainResolved)).
			Float64("retain_ids_seconds", seconds(cfg.KPI.RetainIDs)).
			Float64("max_clock_skew_seconds", seconds(cfg.KPI.MaxClockSkew)).
			Int("max_tracked", cfg.KPI.MaxTracked).
			Int("max_held", cfg.KPI.MaxHeld).
			Int("max_ticketless_ids", cfg.KPI.MaxTicketlessIDs).
			Float64("sla_warn_fraction", cfg.KPI.SLA.WarnFraction).
			Strs("sla_policies", policies)).
		Dict("stream", zerolog.Dict().
			Str("name", cfg.Ingest.Stream).
			Strs("subjects", cfg.Ingest.Subjects).
			Bool("create", cfg.Ingest.CreateStream).
			Float64("max_age_seconds", seconds(cfg.Ingest.MaxAge)).
			Str("dead_letter_subject", cfg.Ingest.DeadLetterSubject).
			Str("dead_letter_stream", cfg.Ingest.DeadLetterStream).
			Float64("dead_letter_timeout_seconds", seconds(cfg.Ingest.DeadLetterTimeout)).
			Int("batch_size", cfg.Ingest.BatchSize).
			Float64("regression_check_seconds", seconds(cfg.Ingest.RegressionCheck))).
		Dict("ingest", zerolog.Dict().
			Str("token_file", cfg.HTTPIngest.TokenFile).
			Int64("max_body_bytes", cfg.HTTPIngest.MaxBodyBytes).
			Dict("webhooks", webhooks)),
	).Msg("starting with this configuration")
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

// openSnapshots opens the configured snapshot store (or the test's).
func openSnapshots(ctx context.Context, cfg Config, nc *nats.Conn, log zerolog.Logger, reg prometheus.Registerer) (*snapshot.Manager, error) {
	var store snapshot.Store
	switch {
	case cfg.snapshotStore != nil:
		store = cfg.snapshotStore
	case cfg.SnapshotStore == "objectstore":
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
				Time("taken_at", snap.TakenAt).Float64("took_seconds", time.Since(start).Seconds()).
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

// listenPprof listens for the Go profiler on its own listener, so that it
// is never exposed where /metrics is, and returns the server to serve it.
func listenPprof(addr string, log zerolog.Logger) (*http.Server, net.Listener, error) {
	ln, err := listen("-pprof-addr", addr, "another process?")
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	log.Warn().Str("addr", ln.Addr().String()).Msg("serving pprof; keep this address private")
	return srv, ln, nil
}
