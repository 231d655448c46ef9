package main

// Flags and their environment variables, into a Config.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// envPrefix prefixes the environment variable of every flag:
// -nats-url is also AGGREGATOR_NATS_URL.
const envPrefix = "AGGREGATOR_"

// parseFlags fills cfg from args and the environment, then from the YAML
// file, and validates the result.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "NATS server URL(s), comma-separated; empty runs an embedded NATS server with JetStream")
	fs.StringVar(&cfg.NATS.CredsFile, "nats-creds", "", "NATS credentials file (JWT and nkey seed)")
	fs.StringVar(&cfg.NATS.NKeyFile, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&cfg.NATS.User, "nats-user", "", "NATS user name")
	fs.StringVar(&cfg.NATS.Password, "nats-password", "", "NATS password (prefer the environment variable AGGREGATOR_NATS_PASSWORD)")
	fs.StringVar(&cfg.NATS.TLSCA, "nats-tls-ca", "", "CA certificate file to verify the NATS server")
	fs.StringVar(&cfg.NATS.TLSCert, "nats-tls-cert", "", "client certificate file for NATS TLS")
	fs.StringVar(&cfg.NATS.TLSKey, "nats-tls-key", "", "client key file for NATS TLS")
	fs.StringVar(&cfg.EmbeddedNATSAddr, "embedded-nats-addr", cfg.EmbeddedNATSAddr, "listen address of the embedded NATS server (used when -nats-url is empty); loopback only unless -embedded-nats-allow-remote")
	fs.BoolVar(&cfg.EmbeddedNATSAllowRemote, "embedded-nats-allow-remote", false, "let -embedded-nats-addr be a non-loopback address: the embedded NATS server then accepts unauthenticated connections from the network")
	fs.StringVar(&cfg.EmbeddedNATSSync, "embedded-nats-sync", cfg.EmbeddedNATSSync, "when the embedded server fsyncs: always (an acknowledged event survives a power loss) or an interval like 1s (faster bulk loads; docs/durability.md)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "listen address for /metrics, /healthz, /readyz and /api/v1/")
	fs.StringVar(&cfg.WebConfigFile, "web-config-file", "", "exporter-toolkit web configuration file for TLS and basic auth on the HTTP endpoints (the Prometheus convention)")
	fs.StringVar(&cfg.HTTPIngest.TokenFile, "ingest-token-file", "", "file of bearer tokens (one a line) that POST /api/v1/events accepts; the endpoint is off without it (also ingest.token_file in -config)")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "serve Go profiling (net/http/pprof) on this separate address, like 127.0.0.1:6060; off when empty")
	fs.StringVar(&cfg.ConfigFile, "config", "", "YAML file with windows, quantiles, label allow-lists and stream settings")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the embedded NATS store and snapshots")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: json or console")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "how often the state is snapshotted (a restart replays the stream from the last snapshot)")
	fs.StringVar(&cfg.SnapshotStore, "snapshot-store", cfg.SnapshotStore, "where snapshots go: dir (under -data-dir) or objectstore (a JetStream object store bucket, no volume needed)")
	fs.StringVar(&cfg.SnapshotBucket, "snapshot-bucket", cfg.SnapshotBucket, "object store bucket for -snapshot-store objectstore")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGTERM, how long to finish in-flight work and write the final snapshot")
	fs.StringVar(&cfg.MemoryLimit, "memory-limit", cfg.MemoryLimit, "soft memory limit of the Go heap: auto (GOMEMLIMIT if set, else 90% of the container's memory limit, else none), off, or a size like 1500MiB or 2GiB")
	fs.StringVar(&cfg.AsOf, "as-of", "", "evaluate windows and SLA clocks as of this fixed RFC 3339 time instead of the wall clock (to reproduce past KPIs, and for tests)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: flags start with -, and the subcommands are simulate and bench", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, err
	}
	if cfg.ConfigFile != "" {
		data, err := os.ReadFile(cfg.ConfigFile)
		if err != nil {
			return cfg, fmt.Errorf("-config: %w", err)
		}
		if err := applyYAML(&cfg, data); err != nil {
			return cfg, fmt.Errorf("-config %s: %w", cfg.ConfigFile, err)
		}
	}
	if cfg.Ingest.MaxAge == 0 {
		// Keep the longest window plus a day, so that a restart can
		// rebuild every window from the stream.
		for _, w := range cfg.KPI.Windows {
			cfg.Ingest.MaxAge = max(cfg.Ingest.MaxAge, w.Width+24*time.Hour)
		}
	}
	if cfg.AsOf != "" {
		t, err := time.Parse(time.RFC3339Nano, cfg.AsOf)
		if err != nil {
			return cfg, fmt.Errorf("-as-of %q: want an RFC 3339 time like 2026-11-23T12:00:00Z", cfg.AsOf)
		}
		cfg.now = func() time.Time { return t }
	}
	return cfg, cfg.Validate()
}

// applyEnv sets every flag not given on the command line from its
// AGGREGATOR_ environment variable.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && !set[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}
