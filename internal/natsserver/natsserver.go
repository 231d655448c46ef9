// Package natsserver runs nats-server in-process with JetStream on file
// storage: the aggregator's default bus when no -nats-url is given, and the
// real server that tests run against.
package natsserver

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config says where the embedded server listens and stores.
type Config struct {
	// Host and Port to listen on; Port -1 picks a free port.
	Host string
	Port int
	// StoreDir holds JetStream's files.
	StoreDir string
	// SyncInterval is how often JetStream fsyncs its files; zero keeps
	// the server's default (two minutes).
	SyncInterval time.Duration
	// SyncAlways fsyncs every message before it is acknowledged.
	SyncAlways bool
}

// ParseAddr splits a host:port listen address for Config.
func ParseAddr(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: must be a number from 0 to 65535", p)
	}
	return h, port, nil
}

// Start runs a server and waits until it accepts connections. Stop it with
// Shutdown and WaitForShutdown.
func Start(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName:   "helpdesk-aggregator-embedded",
		Host:         cfg.Host,
		Port:         cfg.Port,
		JetStream:    true,
		StoreDir:     cfg.StoreDir,
		SyncInterval: cfg.SyncInterval,
		SyncAlways:   cfg.SyncAlways,
		NoSigs:       true, // only main handles signals
		NoLog:        true,
		MaxPayload:   1 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s:%d did not start within 10s (is the port taken?)", cfg.Host, cfg.Port)
	}
	return s, nil
}
