// Package natstest starts a real, in-process NATS server with JetStream
// for tests, the way httptest starts an HTTP server.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
)

// Server is a running test server.
type Server struct {
	*server.Server
	StoreDir string
}

// Start runs a JetStream server on a free loopback port with its store in
// a temporary directory; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	ns, err := natsserver.Start(natsserver.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return stopAtEnd(t, &Server{Server: ns, StoreDir: dir})
}

// StartWith is Start with server options edited first, for users,
// permissions and TLS.
func StartWith(t testing.TB, edit func(*server.Options)) *Server {
	t.Helper()
	dir := t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	edit(opts)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("NATS server did not start")
	}
	return stopAtEnd(t, &Server{Server: ns, StoreDir: dir})
}

func stopAtEnd(t testing.TB, s *Server) *Server {
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Restart stops the server and starts it again on the same port and
// store, as an outage of the NATS server would look to its clients.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()
	ns, err := natsserver.Start(natsserver.Config{Host: "127.0.0.1", Port: port, StoreDir: s.StoreDir})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = ns
}

// Connect returns a connection and a JetStream context, closed when the
// test ends.
func (s *Server) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
