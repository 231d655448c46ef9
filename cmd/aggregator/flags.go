package main

// Flags and their environment variables, into a Config.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// envPrefix prefixes the environment variable of every flag:
// -nats-url is also AGGREGATOR_NATS_URL.
const envPrefix = "AGGREGATOR_"

// errVersion is what parseFlags returns for -version: print the version
// and exit 0.
var errVersion = errors.New("version requested")

// envName is the environment variable of the flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// noEnvFlags are the flags without an environment variable.
var noEnvFlags = map[string]bool{"version": true}

// newFlagSet declares the aggregator's flags on cfg; showVersion is
// -version.
func newFlagSet(cfg *Config, showVersion *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
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
	fs.BoolVar(showVersion, "version", false, "print the version, VCS revision and Go version, and exit")
	return fs
}

const mainUsage = `Usage:
  aggregator [flags]            consume the helpdesk event stream and serve KPIs on /metrics
                                (with an embedded NATS server unless -nats-url is set)
  aggregator simulate [flags]   publish a synthetic helpdesk stream (aggregator simulate -h)
  aggregator bench [flags]      measure catch-up speed against a bare consumer (aggregator bench -h)
  aggregator -version           print the version and exit

Every flag is also read from the environment variable shown beside it
(-nats-url from AGGREGATOR_NATS_URL); a flag on the command line wins.

Flags:
`

// parseFlags fills cfg from args and the environment, then from the YAML
// file, and validates the result. -h prints the usage to out and returns
// flag.ErrHelp; -version returns errVersion.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := DefaultConfig()
	var showVersion bool
	fs := newFlagSet(&cfg, &showVersion)
	if err := parseArgs(fs, args, out, mainUsage, true); err != nil {
		return cfg, err
	}
	if showVersion {
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: flags start with -, and the subcommands are simulate and bench (aggregator -h lists both)", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, err
	}
	var file *yamlFile
	if cfg.ConfigFile != "" {
		data, err := os.ReadFile(cfg.ConfigFile)
		if err != nil {
			return cfg, fmt.Errorf("-config: %w", err)
		}
		file = newYAMLFile(cfg.ConfigFile, data)
		if err := applyYAML(&cfg, data); err != nil {
			return cfg, file.wrap(err)
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
	return cfg, file.wrapValidation(cfg.Validate())
}

// parseArgs parses args into fs. On -h it prints usage and the flags,
// each with its environment variable when withEnv, to out and returns flag.ErrHelp;
// a bad value is an error naming the flag and what a valid value looks
// like, without the usage.
func parseArgs(fs *flag.FlagSet, args []string, out io.Writer, usage string, withEnv bool) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(out, usage)
		printFlags(out, fs, withEnv)
		return err
	case err != nil:
		return flagError(fs, err)
	}
	return nil
}

// printFlags is flag.PrintDefaults with each flag's environment
// variable.
func printFlags(w io.Writer, fs *flag.FlagSet, withEnv bool) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if withEnv && !noEnvFlags[f.Name] {
			line += "   (" + envName(f.Name) + ")"
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			if typ == "string" {
				line += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				line += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w, line)
	})
}

// flagParseError matches the flag package's error for a value it cannot
// parse.
var flagParseError = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:\s]+): (.*)$`)

// flagError rewrites an error of fs.Parse into one that names the flag
// and says what a valid value looks like.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := flagParseError.FindStringSubmatch(msg); m != nil {
		value, uerr := strconv.Unquote(m[1])
		if f := fs.Lookup(m[2]); f != nil && uerr == nil {
			return badValue("-"+f.Name, f, value, m[3])
		}
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("%s: no such flag (%s -h lists the flags)", name, fs.Name())
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("%s: needs a value, like %s=VALUE (%s -h lists the flags)", name, name, fs.Name())
	}
	return fmt.Errorf("%s (%s -h lists the flags)", msg, fs.Name())
}

// badValue says that value is not what flag f takes; where names it
// (-flag, or ENV (-flag)), reason is the flag package's ("parse error",
// "value out of range").
func badValue(where string, f *flag.Flag, value, reason string) error {
	typ, _ := flag.UnquoteUsage(f)
	var want string
	switch typ {
	case "duration":
		want = "is not a duration; use a value like 30s, 5m or 1h"
	case "":
		want = fmt.Sprintf("is not a boolean; use true or false (-%s alone is true)", f.Name)
	case "int":
		want = "is not a whole number; use a value like 100"
	case "uint":
		want = "is not a whole number of 0 or more; use a value like 42"
	case "float":
		want = "is not a number; use a value like 0.5 or 100"
	default:
		return fmt.Errorf("%s: %q: %s", where, value, reason)
	}
	if strings.Contains(reason, "out of range") {
		want = "is out of range; " + strings.SplitN(want, "; ", 2)[1]
	}
	return fmt.Errorf("%s: %q %s", where, value, want)
}

// applyEnv sets every flag not given on the command line from its
// AGGREGATOR_ environment variable.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if noEnvFlags[f.Name] {
			return
		}
		if v := getenv(name); v != "" && !set[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				reason := e.Error()
				if errors.Is(e, strconv.ErrRange) || strings.Contains(reason, "out of range") {
					reason = "value out of range"
				}
				err = badValue(fmt.Sprintf("%s (-%s)", name, f.Name), f, v, reason)
			}
		}
	})
	return err
}
