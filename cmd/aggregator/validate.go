package main

// Config.Validate: every field checked, named by its flag or YAML key.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
)

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
