package main

import (
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/ingest"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/snapshot"
)

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
	// HTTPIngest is POST /api/v1/events and the webhooks.
	HTTPIngest HTTPIngest

	// Test hooks, never set from flags.
	now       func() time.Time
	bound     func(httpAddr string) // called once the HTTP listener is bound, before NATS is connected
	listening func(httpAddr string) // called once HTTP serves the API, before the components run
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
