package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

// envPrefix prefixes the environment variable of every flag:
// -nats-url is also AGGREGATOR_NATS_URL.
const envPrefix = "AGGREGATOR_"

// Config is everything the aggregator needs to run, from flags, their
// environment variables and the YAML file named by -config.
type Config struct {
	NATSURL          string
	NATS             NATSAuth
	EmbeddedNATSAddr string
	// EmbeddedNATSAllowRemote lets the embedded server, which has no
	// authentication, listen on other addresses than loopback.
	EmbeddedNATSAllowRemote bool
	// EmbeddedNATSSync is the embedded server's fsync policy: "always",
	// or an interval.
	EmbeddedNATSSync string
	HTTPAddr         string
	// WebConfigFile is an exporter-toolkit web configuration: TLS and
	// basic auth for the HTTP endpoints.
	WebConfigFile string
	// PprofAddr serves net/http/pprof on its own listener; empty is off.
	PprofAddr  string
	ConfigFile string
	DataDir    string
	LogLevel   string
	LogFormat  string
	// SnapshotInterval is how often the state is made durable.
	SnapshotInterval time.Duration
	// SnapshotStore is "dir" (under DataDir) or "objectstore" (a
	// JetStream object store bucket named SnapshotBucket).
	SnapshotStore  string
	SnapshotBucket string
	// ShutdownTimeout bounds the drain and final snapshot on SIGTERM.
	ShutdownTimeout time.Duration
	// AsOf, when set, stops the clock: windows, SLA deadlines and the
	// future-event check use this time instead of the wall clock.
	AsOf string
	// MemoryLimit is the Go runtime's soft memory limit: "auto" (the
	// GOMEMLIMIT environment variable, or 90% of the container's limit),
	// "off", or a size like 2GiB.
	MemoryLimit string

	KPI    kpi.Config
	Ingest ingest.Config

	// Test hooks, never set from flags.
	now       func() time.Time
	listening func(httpAddr string) // called once the HTTP listener is bound
	// snapshotStore, when set, replaces the store -snapshot-store names.
	snapshotStore snapshot.Store
}

// NATSAuth holds the optional credentials for -nats-url.
type NATSAuth struct {
	CredsFile string
	NKeyFile  string
	User      string
	Password  string
	TLSCA     string
	TLSCert   string
	TLSKey    string
}

// DefaultConfig returns the configuration of `aggregator` without flags.
func DefaultConfig() Config {
	return Config{
		EmbeddedNATSAddr: "127.0.0.1:4222",
		EmbeddedNATSSync: "always",
		HTTPAddr:         ":9478",
		DataDir:          "data",
		LogLevel:         "info",
		LogFormat:        "json",
		SnapshotInterval: 30 * time.Second,
		SnapshotStore:    "dir",
		SnapshotBucket:   "HELPDESK_SNAPSHOTS",
		ShutdownTimeout:  30 * time.Second,
		MemoryLimit:      "auto",
		KPI:              kpi.DefaultConfig(),
		Ingest:           ingest.DefaultConfig(),
		now:              time.Now,
	}
}

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

// fileConfig is the YAML file's shape. Absent fields keep their defaults.
type fileConfig struct {
	Windows        []string  `yaml:"windows"`
	Quantiles      []float64 `yaml:"quantiles"`
	Channels       []string  `yaml:"channels"`
	Teams          []string  `yaml:"teams"`
	MaxTeams       *int      `yaml:"max_teams"`
	HoldFor        string    `yaml:"hold_for"`
	RetainResolved string    `yaml:"retain_resolved"`
	RetainIDs      string    `yaml:"retain_ids"`
	MaxClockSkew   string    `yaml:"max_clock_skew"`
	MaxTracked     *int      `yaml:"max_tracked_tickets"`
	MaxHeld        *int      `yaml:"max_held_events"`
	MaxIDs         *int      `yaml:"max_ticketless_ids"`
	SLA            slaFile   `yaml:"sla"`
	Stream         struct {
		Name              string   `yaml:"name"`
		Subjects          []string `yaml:"subjects"`
		Create            *bool    `yaml:"create"`
		MaxAge            string   `yaml:"max_age"`
		DeadLetterSubject string   `yaml:"dead_letter_subject"`
	} `yaml:"stream"`
}

// slaFile is the sla: section of the YAML file.
type slaFile struct {
	WarnFraction  *float64          `yaml:"warn_fraction"`
	FirstReply    map[string]string `yaml:"first_reply"`
	Resolution    map[string]string `yaml:"resolution"`
	BusinessHours *struct {
		Timezone  string   `yaml:"timezone"`
		Monday    []string `yaml:"monday"`
		Tuesday   []string `yaml:"tuesday"`
		Wednesday []string `yaml:"wednesday"`
		Thursday  []string `yaml:"thursday"`
		Friday    []string `yaml:"friday"`
		Saturday  []string `yaml:"saturday"`
		Sunday    []string `yaml:"sunday"`
		Holidays  []string `yaml:"holidays"`
	} `yaml:"business_hours"`
}

// apply sets the SLA policy from the file, keeping defaults for what it
// leaves out.
func (f *slaFile) apply(p *sla.Policy) error {
	if f.WarnFraction != nil {
		p.WarnFraction = *f.WarnFraction
	}
	for kind, targets := range map[sla.Kind]map[string]string{sla.FirstReply: f.FirstReply, sla.Resolution: f.Resolution} {
		for name, text := range targets {
			pri, ok := events.ParsePriority(name)
			if !ok {
				return fmt.Errorf("sla.%s.%s: unknown priority; use low, normal, high or urgent", kind, name)
			}
			d, err := parseDuration(text)
			if err != nil {
				return fmt.Errorf("sla.%s.%s: %q: %w", kind, name, text, err)
			}
			p.Targets[kind][pri] = d
		}
	}
	bh := f.BusinessHours
	if bh == nil {
		return nil
	}
	if bh.Timezone == "" {
		return fmt.Errorf("sla.business_hours.timezone: required, an IANA zone like Europe/Berlin")
	}
	loc, err := time.LoadLocation(bh.Timezone)
	if err != nil {
		return fmt.Errorf("sla.business_hours.timezone: %q: not an IANA time zone like Europe/Berlin", bh.Timezone)
	}
	sched := sla.Schedule{Location: loc}
	for day, ranges := range map[time.Weekday][]string{
		time.Monday: bh.Monday, time.Tuesday: bh.Tuesday, time.Wednesday: bh.Wednesday,
		time.Thursday: bh.Thursday, time.Friday: bh.Friday, time.Saturday: bh.Saturday, time.Sunday: bh.Sunday,
	} {
		for _, r := range ranges {
			iv, err := parseInterval(r)
			if err != nil {
				return fmt.Errorf("sla.business_hours.%s: %q: %w", strings.ToLower(day.String()), r, err)
			}
			sched.Week[day] = append(sched.Week[day], iv)
		}
	}
	for _, h := range bh.Holidays {
		d, err := time.Parse(time.DateOnly, h)
		if err != nil {
			return fmt.Errorf("sla.business_hours.holidays: %q: want a date like 2026-12-25", h)
		}
		sched.Holidays = append(sched.Holidays, d)
	}
	cal, err := sla.NewCalendar(sched)
	if err != nil {
		return err
	}
	p.Hours = cal
	return nil
}

// parseInterval reads "09:00-18:00" (24:00 may end a day).
func parseInterval(s string) (sla.Interval, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return sla.Interval{}, fmt.Errorf("want a range like 09:00-18:00")
	}
	clock := func(t string) (int, error) {
		h, m, ok := strings.Cut(strings.TrimSpace(t), ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
			return 0, fmt.Errorf("want a range like 09:00-18:00")
		}
		return hh*60 + mm, nil
	}
	a, err := clock(from)
	if err != nil {
		return sla.Interval{}, err
	}
	b, err := clock(to)
	if err != nil {
		return sla.Interval{}, err
	}
	return sla.Interval{Start: a, End: b}, nil
}

func applyYAML(cfg *Config, data []byte) error {
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if f.Windows != nil {
		cfg.KPI.Windows = nil
		for _, w := range f.Windows {
			d, err := parseDuration(w)
			if err != nil {
				return fmt.Errorf("windows: %q: %w", w, err)
			}
			cfg.KPI.Windows = append(cfg.KPI.Windows, kpi.Window{Name: w, Width: d})
		}
	}
	if f.Quantiles != nil {
		cfg.KPI.Quantiles = f.Quantiles
	}
	if f.Channels != nil {
		cfg.KPI.Channels = f.Channels
	}
	if len(f.Teams) > 0 {
		cfg.KPI.Teams = f.Teams
	}
	if f.MaxTeams != nil {
		cfg.KPI.MaxTeams = *f.MaxTeams
	}
	if f.MaxTracked != nil {
		cfg.KPI.MaxTracked = *f.MaxTracked
	}
	if f.MaxIDs != nil {
		cfg.KPI.MaxTicketlessIDs = *f.MaxIDs
	}
	if f.MaxHeld != nil {
		cfg.KPI.MaxHeld = *f.MaxHeld
	}
	for _, d := range []struct {
		field string
		text  string
		dst   *time.Duration
	}{
		{"hold_for", f.HoldFor, &cfg.KPI.HoldFor},
		{"retain_resolved", f.RetainResolved, &cfg.KPI.RetainResolved},
		{"retain_ids", f.RetainIDs, &cfg.KPI.RetainIDs},
		{"max_clock_skew", f.MaxClockSkew, &cfg.KPI.MaxClockSkew},
		{"stream.max_age", f.Stream.MaxAge, &cfg.Ingest.MaxAge},
	} {
		if d.text == "" {
			continue
		}
		v, err := parseDuration(d.text)
		if err != nil {
			return fmt.Errorf("%s: %q: %w", d.field, d.text, err)
		}
		*d.dst = v
	}
	cfg.Ingest.MaxClockSkew = cfg.KPI.MaxClockSkew
	if err := f.SLA.apply(&cfg.KPI.SLA); err != nil {
		return err
	}
	if f.Stream.Name != "" {
		cfg.Ingest.Stream = f.Stream.Name
	}
	if f.Stream.Subjects != nil {
		cfg.Ingest.Subjects = f.Stream.Subjects
	}
	if f.Stream.Create != nil {
		cfg.Ingest.CreateStream = *f.Stream.Create
	}
	if f.Stream.DeadLetterSubject != "" {
		cfg.Ingest.DeadLetterSubject = f.Stream.DeadLetterSubject
	}
	return nil
}

// parseDuration is time.ParseDuration plus whole days ("7d") and weeks
// ("2w"), the units helpdesk windows are spoken in.
func parseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0, fmt.Errorf("want a whole number of %s, like 7d or 2w, or a Go duration like 90m", suffix)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 15m, 1h, 7d")
	}
	return d, nil
}

// Validate checks every field and names the one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.MemoryLimit != "auto" && c.MemoryLimit != "off" {
		if _, err := parseBytes(c.MemoryLimit); err != nil {
			bad("-memory-limit", "%q: %v (want auto, off, or a size like 1500MiB or 2GiB)", c.MemoryLimit, err)
		}
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if p, err := url.Parse(strings.TrimSpace(u)); err != nil || p.Host == "" {
				bad("-nats-url", "%q is not a URL like nats://host:4222", redactURL(strings.TrimSpace(u)))
			}
		}
	} else if host, _, err := natsserver.ParseAddr(c.EmbeddedNATSAddr); err != nil {
		bad("-embedded-nats-addr", "%q: %v (want host:port, like 127.0.0.1:4222)", c.EmbeddedNATSAddr, err)
	} else if !loopbackHost(host) && !c.EmbeddedNATSAllowRemote {
		bad("-embedded-nats-addr", "%q: the embedded NATS server has no authentication, so it listens on loopback only (127.0.0.0/8, ::1 or localhost, like 127.0.0.1:4222); "+
			"set -embedded-nats-allow-remote to accept unauthenticated connections from the network, or use -nats-url with a secured NATS", c.EmbeddedNATSAddr)
	}
	if _, _, err := c.embeddedSync(); err != nil {
		bad("-embedded-nats-sync", "%q: must be always or a duration like 1s", c.EmbeddedNATSSync)
	}
	if c.NATS.TLSCert != "" && c.NATS.TLSKey == "" || c.NATS.TLSCert == "" && c.NATS.TLSKey != "" {
		bad("-nats-tls-cert", "a client certificate needs -nats-tls-key, and the key needs the certificate")
	}
	if _, _, err := natsserver.ParseAddr(c.HTTPAddr); err != nil {
		bad("-http-addr", "%q: %v (want host:port or :port, like :9478)", c.HTTPAddr, err)
	}
	if c.WebConfigFile != "" {
		if err := web.Validate(c.WebConfigFile); err != nil {
			bad("-web-config-file", "%v", err)
		}
	}
	if c.PprofAddr != "" {
		if _, _, err := natsserver.ParseAddr(c.PprofAddr); err != nil {
			bad("-pprof-addr", "%q: %v (want host:port, like 127.0.0.1:6060)", c.PprofAddr, err)
		}
	}
	if c.DataDir == "" {
		bad("-data-dir", "must not be empty")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("-log-level", "%q: must be debug, info, warn or error", c.LogLevel)
	}
	if !slices.Contains([]string{"json", "console"}, c.LogFormat) {
		bad("-log-format", "%q: must be json or console", c.LogFormat)
	}
	if c.SnapshotInterval < time.Second {
		bad("-snapshot-interval", "%v: must be at least 1s", c.SnapshotInterval)
	}
	if !slices.Contains([]string{"dir", "objectstore"}, c.SnapshotStore) {
		bad("-snapshot-store", "%q: must be dir or objectstore", c.SnapshotStore)
	}
	if c.SnapshotBucket == "" || strings.ContainsAny(c.SnapshotBucket, ". *>") {
		bad("-snapshot-bucket", "%q: must be a bucket name without '.', ' ', '*' or '>'", c.SnapshotBucket)
	}
	if c.ShutdownTimeout <= 0 {
		bad("-shutdown-timeout", "%v: must be positive", c.ShutdownTimeout)
	}
	k := &c.KPI
	if err := k.Validate(); err != nil {
		errs = append(errs, err)
	}
	// Floors for operators (the state itself takes any limit, 0 for none).
	if k.MaxTracked < 1000 {
		bad("max_tracked_tickets", "%d: must be at least 1000", k.MaxTracked)
	}
	if k.MaxTicketlessIDs < 1000 {
		bad("max_ticketless_ids", "%d: must be at least 1000", k.MaxTicketlessIDs)
	}
	if k.MaxHeld < 100 {
		bad("max_held_events", "%d: must be at least 100", k.MaxHeld)
	}
	in := &c.Ingest
	if err := in.Validate(); err != nil {
		errs = append(errs, err)
	}
	var longest time.Duration
	for _, w := range k.Windows {
		longest = max(longest, w.Width)
	}
	if in.MaxAge != 0 && in.MaxAge < longest {
		bad("stream.max_age", "%v: must be at least the longest window (%v) so a restart can rebuild it", in.MaxAge, longest)
	}
	return errors.Join(errs...)
}

// loopbackHost says whether host, of a listen address, is localhost or a
// loopback IP (127.0.0.0/8, ::1). The empty host is every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// embeddedSync reads -embedded-nats-sync.
func (c *Config) embeddedSync() (always bool, interval time.Duration, err error) {
	if c.EmbeddedNATSSync == "always" {
		return true, 0, nil
	}
	d, err := time.ParseDuration(c.EmbeddedNATSSync)
	if err == nil && d <= 0 {
		err = fmt.Errorf("must be positive")
	}
	return false, d, err
}
