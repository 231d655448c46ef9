package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// aggregatorPermissions is the least-privilege permission set documented in
// docs/security.md for an aggregator that reads HELPDESK_EVENTS and writes
// dead letters to HELPDESK_DEADLETTER, both of which an operator created
// (stream.create: false), and keeps snapshots on disk.
func aggregatorPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{
				"$JS.API.STREAM.INFO.HELPDESK_EVENTS",
				"$JS.API.CONSUMER.CREATE.HELPDESK_EVENTS.>",
				"$JS.API.CONSUMER.DELETE.HELPDESK_EVENTS.>",
				"$JS.API.CONSUMER.MSG.NEXT.HELPDESK_EVENTS.>",
				"helpdesk.deadletter",
			},
		},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// publisherPermissions lets a publisher send events and read JetStream's
// acknowledgements, and nothing else.
func publisherPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"helpdesk.events.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

func TestLeastPrivilegeNATSPermissions(t *testing.T) {
	srv := natstest.StartWith(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "admin-secret"},
			{Username: "aggregator", Password: "agg-secret", Permissions: aggregatorPermissions()},
			{Username: "publisher", Password: "pub-secret", Permissions: publisherPermissions()},
		}
	})
	connect := func(user, pass string) (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, pass))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return nc, js
	}
	ctx := context.Background()
	_, admin := connect("admin", "admin-secret")
	_, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = admin.CreateStream(ctx, jetstream.StreamConfig{Name: "HELPDESK_DEADLETTER", Subjects: []string{"helpdesk.deadletter"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)

	agg := startAggregator(t, srv.ClientURL(), testNow, func(c *Config) {
		c.NATS.User, c.NATS.Password = "aggregator", "agg-secret"
		c.Ingest.CreateStream = false
	})
	_, pub := connect("publisher", "pub-secret")
	publish(t, pub, openings(0, 5), true)
	publish(t, pub, []message{{id: "bad", subject: "helpdesk.events.x", body: []byte("not json")}}, true)
	waitFor(t, 10*time.Second, "events applied with the least privileges", func() bool {
		m := scrape(t, agg.url)
		return m[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})] == 5 &&
			m[key("helpdesk_events_rejected_total", map[string]string{"reason": "invalid_json"})] == 1 &&
			m[`helpdesk_events_deadlettered_total{}`] == 1
	})
	dl, err := admin.Stream(ctx, "HELPDESK_DEADLETTER")
	require.NoError(t, err)
	_, err = dl.GetMsg(ctx, 1)
	require.NoError(t, err, "the dead letter is stored")

	// With the aggregator's credentials, events cannot be published and
	// the stream cannot be purged.
	violations := make(chan error, 10)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("aggregator", "agg-secret"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = js.Publish(shortCtx, "helpdesk.events.ticket.opened", []byte(`{}`))
	require.Error(t, err)
	require.ErrorContains(t, <-violations, "Permissions Violation")
	stream, err := js.Stream(ctx, "HELPDESK_EVENTS")
	require.NoError(t, err)
	purgeCtx, cancelPurge := context.WithTimeout(ctx, 2*time.Second)
	defer cancelPurge()
	require.Error(t, stream.Purge(purgeCtx))
	require.ErrorContains(t, <-violations, "Permissions Violation")
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(6), info.State.Msgs, "nothing purged")
}

// TestNATSAuthAndTLS runs a NATS that requires TLS and a password: the
// aggregator connects with the right settings and fails clearly, at start,
// with wrong ones.
func TestNATSAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	srv := natstest.StartWith(t, func(o *server.Options) {
		o.Username, o.Password = "agg", "s3cret"
		o.TLS = true
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	url := "tls://" + srv.Addr().String()

	agg := startAggregator(t, url, testNow, func(c *Config) {
		c.NATS.User, c.NATS.Password, c.NATS.TLSCA = "agg", "s3cret", caFile
	})
	require.Equal(t, 200, getStatus(t, agg.url+"/healthz", "", ""))

	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"wrong password", func(c *Config) { c.NATS.User, c.NATS.Password, c.NATS.TLSCA = "agg", "wr0ngpass", caFile }, "authorization violation"},
		{"unknown CA", func(c *Config) { c.NATS.User, c.NATS.Password = "agg", "s3cret" }, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NATSURL = url
			cfg.HTTPAddr = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			tc.edit(&cfg)
			require.NoError(t, cfg.Validate())
			var logs logBuffer // run logs from more than one goroutine
			err := run(context.Background(), cfg, zerolog.New(&logs), prometheus.NewRegistry())
			require.Error(t, err)
			require.Contains(t, strings.ToLower(err.Error()), tc.want)
			require.Contains(t, err.Error(), "check -nats-url and credentials")
			require.NotContains(t, err.Error()+logs.String(), "s3cret", "no secret in errors or logs")
			require.NotContains(t, err.Error()+logs.String(), "wr0ngpass")
		})
	}
}

// TestMetricsBasicAuth serves /metrics behind the exporter-toolkit web
// configuration: a wrong or missing password is refused.
func TestMetricsBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(webCfg, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))
	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow, func(c *Config) { c.WebConfigFile = webCfg })
	require.Equal(t, http.StatusUnauthorized, getStatus(t, agg.url+"/metrics", "", ""))
	require.Equal(t, http.StatusUnauthorized, getStatus(t, agg.url+"/metrics", "prometheus", "wrong"))
	require.Equal(t, http.StatusUnauthorized, getStatus(t, agg.url+"/api/v1/kpis?window=1h", "prometheus", "wrong"))
	require.Equal(t, http.StatusOK, getStatus(t, agg.url+"/metrics", "prometheus", "scrape-secret"))

	cfg := DefaultConfig()
	cfg.WebConfigFile = filepath.Join(t.TempDir(), "missing.yml")
	require.ErrorContains(t, cfg.Validate(), "-web-config-file")
}

func getStatus(t *testing.T, url, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestNATSNkey connects with an nkey seed file, the least-privilege
// permissions attached to the nkey user; a seed the server does not know
// fails at start.
func TestNATSNkey(t *testing.T) {
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := user.PublicKey()
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "aggregator.nk")
	require.NoError(t, os.WriteFile(seedFile, seed, 0o600))

	srv := natstest.StartWith(t, func(o *server.Options) {
		o.Nkeys = []*server.NkeyUser{{Nkey: pub, Permissions: aggregatorPermissions()}}
		o.Users = []*server.User{{Username: "admin", Password: "admin-secret"}}
	})
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-secret"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	admin, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = admin.CreateStream(context.Background(), jetstream.StreamConfig{Name: "HELPDESK_EVENTS", Subjects: []string{"helpdesk.events.>"}})
	require.NoError(t, err)
	agg := startAggregator(t, srv.ClientURL(), testNow, func(c *Config) {
		c.NATS.NKeyFile = seedFile
		c.Ingest.CreateStream = false
	})
	publish(t, admin, openings(0, 3), true)
	waitFor(t, 10*time.Second, "events applied over the nkey connection", func() bool {
		return scrape(t, agg.url)[key("helpdesk_events_total", map[string]string{"type": "ticket.opened"})] == 3
	})

	stranger, err := nkeys.CreateUser()
	require.NoError(t, err)
	strangerSeed, err := stranger.Seed()
	require.NoError(t, err)
	strangerFile := filepath.Join(dir, "stranger.nk")
	require.NoError(t, os.WriteFile(strangerFile, strangerSeed, 0o600))
	cfg := DefaultConfig()
	cfg.NATSURL, cfg.HTTPAddr, cfg.DataDir = srv.ClientURL(), "127.0.0.1:0", t.TempDir()
	cfg.NATS.NKeyFile = strangerFile
	var logs logBuffer // run logs from more than one goroutine
	err = run(context.Background(), cfg, zerolog.New(&logs), prometheus.NewRegistry())
	require.ErrorContains(t, err, "check -nats-url and credentials")
	require.NotContains(t, err.Error()+logs.String(), string(strangerSeed), "no seed in errors or logs")
}

// TestNATSSecretsRedacted puts secrets in -nats-url (user:password, a
// token, a list of URLs) and in a credentials file: a failed start names
// the server with the secret redacted, and no secret is in the error or in
// the log, down to debug level.
func TestNATSSecretsRedacted(t *testing.T) {
	users := natstest.StartWith(t, func(o *server.Options) { o.Username, o.Password = "agg", "RIGHTSECRET" })
	tokens := natstest.StartWith(t, func(o *server.Options) { o.Authorization = "RIGHTTOKEN" })
	usersAddr, tokensAddr := users.Addr().String(), tokens.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)
	const fakeJWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.CREDSJWTSECRET.c2ln"
	credsFile := filepath.Join(t.TempDir(), "aggregator.creds")
	require.NoError(t, os.WriteFile(credsFile, []byte("-----BEGIN NATS USER JWT-----\n"+fakeJWT+"\n------END NATS USER JWT------\n\n"+
		"-----BEGIN USER NKEY SEED-----\n"+string(seed)+"\n------END USER NKEY SEED------\n"), 0o600))

	for _, tc := range []struct {
		name    string
		url     string
		edit    func(*Config)
		wantErr []string // nil for a start that succeeds
		wantLog string
		secrets []string
		// retries: the failure is one waiting may cure, so run logs it
		// and retries (wantErr is then in the log); maybeRetries: either
		// way (the client tries the servers of a list in random order).
		retries, maybeRetries bool
	}{
		{"wrong password", "nats://agg:WRONGSECRET@" + usersAddr, nil,
			[]string{"authorization violation", "nats://agg:xxxxx@" + usersAddr}, "", []string{"WRONGSECRET"}, false, false},
		{"wrong token", "nats://WRONGTOKEN@" + tokensAddr, nil,
			[]string{"authorization violation", "nats://REDACTED@" + tokensAddr}, "", []string{"WRONGTOKEN"}, false, false},
		{"unreachable with a password", "nats://agg:UNREACHABLESECRET@" + closedAddr, nil,
			[]string{"no servers available", "nats://agg:xxxxx@" + closedAddr}, "", []string{"UNREACHABLESECRET"}, true, false},
		{"a list of URLs", "nats://agg:WRONGSECRET@" + usersAddr + ", nats://OTHERTOKEN@" + closedAddr, nil,
			[]string{"nats://agg:xxxxx@" + usersAddr + ", nats://REDACTED@" + closedAddr}, "", []string{"WRONGSECRET", "OTHERTOKEN"}, false, true},
		{"a credentials file the server does not know", "nats://" + usersAddr, func(c *Config) { c.NATS.CredsFile = credsFile },
			[]string{"authorization violation"}, "", []string{"CREDSJWTSECRET", string(seed)}, false, false},
		{"the right password", "nats://agg:RIGHTSECRET@" + usersAddr, nil,
			nil, `"url":"nats://agg:xxxxx@` + usersAddr + `"`, []string{"RIGHTSECRET"}, false, false},
		{"the right token", "nats://RIGHTTOKEN@" + tokensAddr, nil,
			nil, `"url":"nats://REDACTED@` + tokensAddr + `"`, []string{"RIGHTTOKEN"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NATSURL, cfg.HTTPAddr, cfg.DataDir = tc.url, "127.0.0.1:0", t.TempDir()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			require.NoError(t, cfg.Validate())
			served, logs, err := runUntilServing(cfg)
			switch {
			case tc.wantErr == nil:
				require.True(t, served, "started: %v", err)
			case tc.retries || tc.maybeRetries && err == nil:
				require.False(t, served)
				require.NoError(t, err, "stopped while retrying")
				require.Contains(t, logs, "cannot connect to NATS; retrying")
				for _, want := range tc.wantErr {
					require.Contains(t, strings.ToLower(logs), strings.ToLower(want))
				}
			default:
				require.False(t, served)
				require.Error(t, err)
				require.Contains(t, err.Error(), "check -nats-url and credentials")
				for _, want := range tc.wantErr {
					require.Contains(t, strings.ToLower(err.Error()), strings.ToLower(want))
				}
			}
			require.Contains(t, logs, tc.wantLog)
			text := logs
			if err != nil {
				text += err.Error()
			}
			for _, secret := range tc.secrets {
				require.NotContains(t, text, secret, "no secret in errors or logs")
			}
		})
	}
}

// TestInvalidNATSURLSecretRedacted gives a -nats-url that net/url cannot
// parse: the error names the flag without the password.
func TestInvalidNATSURLSecretRedacted(t *testing.T) {
	_, err := parseFlags([]string{"-nats-url", "nats://agg:BAD SECRET@127.0.0.1:4222"}, noEnv, &strings.Builder{})
	require.EqualError(t, err, `-nats-url: "nats://REDACTED@127.0.0.1:4222" is not a URL like nats://host:4222`)
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://agg:s3cret@127.0.0.1:4222":        "nats://agg:xxxxx@127.0.0.1:4222",
		"tls://mytoken@nats.example.com:4222":     "tls://REDACTED@nats.example.com:4222",
		"agg:s3cret@127.0.0.1:4222":               "REDACTED@127.0.0.1:4222",
		"nats://agg:s3cr%zz@127.0.0.1:4222":       "nats://REDACTED@127.0.0.1:4222",
		"nats://a:b@h:1, nats://t@h:2,nats://h:3": "nats://a:xxxxx@h:1, nats://REDACTED@h:2,nats://h:3",
	} {
		require.Equal(t, want, redactURLs(in), in)
	}
}

// runUntilServing runs run() with cfg until it serves the API, fails
// before, or logs that it retries to connect to NATS, and returns whether
// it served, everything it logged and its error.
func runUntilServing(cfg Config) (served bool, logs string, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.listening = func(string) { served = true; cancel() }
	var buf logBuffer
	buf.onWrite = func(line []byte) {
		if bytes.Contains(line, []byte("cannot connect to NATS; retrying")) {
			cancel()
		}
	}
	err = run(ctx, cfg, zerolog.New(&buf), prometheus.NewRegistry())
	return served, buf.String(), err
}

// logBuffer collects the log of run() and of the NATS client's callbacks.
type logBuffer struct {
	mu      sync.Mutex
	buf     strings.Builder
	onWrite func(line []byte) // when set, called with each write
}

func (b *logBuffer) Write(p []byte) (int, error) {
	if b.onWrite != nil {
		b.onWrite(p)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEmbeddedNATSAllowRemoteWarns runs the embedded NATS server on every
// interface, as -embedded-nats-allow-remote allows: the start logs a
// warning. On loopback it does not.
func TestEmbeddedNATSAllowRemoteWarns(t *testing.T) {
	const warning = "the embedded NATS server accepts unauthenticated connections from the network"
	for addr, warns := range map[string]bool{"0.0.0.0:-1": true, "127.0.0.1:-1": false} {
		t.Run(addr, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.EmbeddedNATSAddr, cfg.EmbeddedNATSAllowRemote = addr, true
			cfg.HTTPAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
			require.NoError(t, cfg.Validate())
			served, logs, err := runUntilServing(cfg)
			require.True(t, served, "started: %v", err)
			if warns {
				require.Contains(t, logs, `"level":"warn"`)
				require.Contains(t, logs, warning)
			} else {
				require.NotContains(t, logs, warning)
			}
		})
	}
}
