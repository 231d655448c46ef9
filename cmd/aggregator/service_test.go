package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
)

// getBody returns the status and body of a GET.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestWaitsForNATS starts the aggregator against a NATS URL where nothing
// listens yet, as when NATS starts after it: it serves /healthz at once,
// /readyz says why it is not ready (the URL with its password redacted,
// the error, the next retry), each failed attempt is logged with its
// number and the delay in seconds; once a NATS server starts on that
// port, /readyz turns 200 without a restart.
func TestWaitsForNATS(t *testing.T) {
	natsAddr := freeAddr(t)
	cfg := lifecycleConfig(t, "nats://agg:WAITSECRET@"+natsAddr)
	bound := make(chan string, 1)
	cfg.bound = func(a string) { bound <- a }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, zerolog.New(&logs), prometheus.NewRegistry()) }()
	var base string
	select {
	case a := <-bound:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run returned before serving HTTP: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no HTTP listener within 30s")
	}
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			return errors.New("run did not return within a minute of the cancellation")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})

	code, body := getBody(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	waitFor(t, 10*time.Second, "/readyz to report the failed connection", func() bool {
		_, body := getBody(t, base+"/readyz")
		return strings.Contains(body, "retrying in")
	})
	code, body = getBody(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Regexp(t, `^not ready: connecting to NATS at nats://agg:xxxxx@`+regexp.QuoteMeta(natsAddr)+
		`: nats: no servers available for connection; retrying in [0-9]+s\n$`, body)
	// /metrics serves the process's own metrics only (main registers
	// helpdesk_build_info; TestSIGTERM scrapes it from the binary): no KPI
	// from a state not restored.
	code, body = getBody(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "helpdesk_tickets_opened")

	// Each failure is one log line with the attempt and the delay, in
	// seconds.
	var retry map[string]any
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "cannot connect to NATS; retrying") {
			require.NoError(t, json.Unmarshal([]byte(line), &retry))
			break
		}
	}
	require.NotNil(t, retry, "a retry logged:\n%s", logs.String())
	require.Equal(t, "warn", retry["level"])
	require.EqualValues(t, 1, retry["attempt"])
	require.EqualValues(t, 1, retry["retry_in_seconds"])
	require.Equal(t, "nats://agg:xxxxx@"+natsAddr, retry["url"])
	require.Contains(t, retry["error"], "no servers available")

	host, portText, err := net.SplitHostPort(natsAddr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	ns, err := natsserver.Start(natsserver.Config{Host: host, Port: port, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	waitFor(t, 45*time.Second, "/readyz 200 once NATS is up", func() bool {
		code, _ := statusOf(base + "/readyz")
		return code == http.StatusOK
	})
	require.Equal(t, http.StatusOK, getStatus(t, base+"/metrics", "", ""))
	require.Contains(t, logs.String(), `"message":"connected to NATS"`)
	require.NotContains(t, logs.String(), "WAITSECRET")

	require.NoError(t, stop())
}

// TestStopWhileWaitingForNATS cancels (SIGTERM, Ctrl-C) while the first
// connection is being retried: run returns nil at once.
func TestStopWhileWaitingForNATS(t *testing.T) {
	cfg := lifecycleConfig(t, "nats://"+freeAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logBuffer
	logs.onWrite = func(line []byte) {
		if bytes.Contains(line, []byte("cannot connect to NATS; retrying")) {
			cancel()
		}
	}
	served := false
	cfg.listening = func(string) { served = true }
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, zerolog.New(&logs), prometheus.NewRegistry()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of the cancellation")
	}
	require.False(t, served)
	require.Contains(t, logs.String(), "stopped while starting")
}

// TestPortTaken runs with each listen address taken: run fails at once,
// naming the address, the flag, and who may hold the port.
func TestPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	addr := taken.Addr().String()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"embedded NATS", func(c *Config) { c.NATSURL, c.EmbeddedNATSAddr = "", addr },
			"-embedded-nats-addr " + addr + ": port already in use (another aggregator or NATS server?); choose another with -embedded-nats-addr"},
		{"HTTP", func(c *Config) { c.NATSURL, c.EmbeddedNATSAddr, c.HTTPAddr = "", "127.0.0.1:-1", addr },
			"-http-addr " + addr + ": port already in use (another aggregator?); choose another with -http-addr"},
		{"pprof", func(c *Config) { c.NATSURL, c.EmbeddedNATSAddr, c.PprofAddr = "", "127.0.0.1:-1", addr },
			"-pprof-addr " + addr + ": port already in use (another process?); choose another with -pprof-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lifecycleConfig(t, "")
			tc.edit(&cfg)
			require.NoError(t, cfg.Validate())
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)), prometheus.NewRegistry())
			}()
			select {
			case err := <-done:
				require.EqualError(t, err, tc.want)
			case <-time.After(5 * time.Second):
				t.Fatal("run did not fail within 5s")
			}
		})
	}
}

// TestConsoleLogsWithoutColourOffTerminal logs in the console format to
// a buffer and to a pipe, neither a terminal: no ANSI escape in either.
func TestConsoleLogsWithoutColourOffTerminal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogFormat = "console"
	logTo := func(w io.Writer) {
		log, err := newLogger(cfg, w)
		require.NoError(t, err)
		log.Warn().Str("url", "nats://127.0.0.1:4222").Int("attempt", 3).Msg("cannot connect to NATS; retrying")
		log.Error().Err(os.ErrNotExist).Msg("failed")
	}
	// What the check would catch: the console writer's default colours.
	var coloured bytes.Buffer
	colourLog := zerolog.New(zerolog.ConsoleWriter{Out: &coloured})
	colourLog.Warn().Msg("x")
	require.Contains(t, coloured.String(), "\x1b[", "the default console writer colours")

	var buf bytes.Buffer
	logTo(&buf)
	require.Contains(t, buf.String(), "cannot connect to NATS; retrying")
	require.NotContains(t, buf.String(), "\x1b", "no ESC in logs to a buffer")

	r, w, err := os.Pipe()
	require.NoError(t, err)
	logTo(w)
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Contains(t, string(out), "attempt=3")
	require.NotContains(t, string(out), "\x1b", "no ESC in logs to a pipe")
}

// TestStartupConfigLogRedacted logs the effective configuration with
// secrets everywhere one can put them: one line, which names the files
// but holds no secret, neither from the URLs, the password, nor the
// contents of the credentials, nkey, token or webhook secret files.
func TestStartupConfigLogRedacted(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	cfg := DefaultConfig()
	cfg.NATSURL = "nats://agg:URLPASSWORD@127.0.0.1:1, nats://URLTOKEN@127.0.0.1:2,nats://127.0.0.1:3"
	cfg.NATS.User, cfg.NATS.Password = "agg", "FLAGPASSWORD"
	cfg.NATS.CredsFile = write("agg.creds", "CREDSCONTENT")
	cfg.NATS.NKeyFile = write("agg.nk", "NKEYCONTENT")
	cfg.HTTPIngest.TokenFile = write("tokens", "TOKENCONTENT\n")
	cfg.HTTPIngest.Webhooks = map[string]WebhookFile{"zendesk": {SecretFile: write("zendesk.secret", "WEBHOOKCONTENT")}}
	var buf bytes.Buffer
	logConfig(zerolog.New(&buf), cfg)
	text := buf.String()
	require.Equal(t, 1, strings.Count(text, "\n"), "one line:\n%s", text)
	for _, secret := range []string{"URLPASSWORD", "URLTOKEN", "FLAGPASSWORD", "CREDSCONTENT", "NKEYCONTENT", "TOKENCONTENT", "WEBHOOKCONTENT"} {
		require.NotContains(t, text, secret)
	}
	var line struct {
		Message string `json:"message"`
		Config  struct {
			NATS struct {
				URL         string `json:"url"`
				User        string `json:"user"`
				PasswordSet bool   `json:"password_set"`
				CredsFile   string `json:"creds_file"`
				NKeyFile    string `json:"nkey_file"`
			} `json:"nats"`
			HTTPAddr        string  `json:"http_addr"`
			SnapshotSeconds float64 `json:"snapshot_interval_seconds"`
			Ingest          struct {
				TokenFile string                       `json:"token_file"`
				Webhooks  map[string]map[string]string `json:"webhooks"`
			} `json:"ingest"`
			KPI struct {
				Windows []string `json:"windows"`
			} `json:"kpi"`
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "starting with this configuration", line.Message)
	c := line.Config
	require.Equal(t, "nats://agg:xxxxx@127.0.0.1:1, nats://REDACTED@127.0.0.1:2,nats://127.0.0.1:3", c.NATS.URL)
	require.Equal(t, "agg", c.NATS.User)
	require.True(t, c.NATS.PasswordSet)
	require.Equal(t, cfg.NATS.CredsFile, c.NATS.CredsFile, "file paths are shown")
	require.Equal(t, cfg.NATS.NKeyFile, c.NATS.NKeyFile)
	require.Equal(t, cfg.HTTPIngest.TokenFile, c.Ingest.TokenFile)
	require.Equal(t, cfg.HTTPIngest.Webhooks["zendesk"].SecretFile, c.Ingest.Webhooks["zendesk"]["secret_file"])
	require.Equal(t, ":9478", c.HTTPAddr)
	require.InDelta(t, 30, c.SnapshotSeconds, 0)
	require.Equal(t, []string{"15m", "1h", "24h", "7d"}, c.KPI.Windows)

	// run logs it first, once.
	cfg = lifecycleConfig(t, "")
	cfg.EmbeddedNATSAddr = "127.0.0.1:-1"
	served, logs, err := runUntilServing(cfg)
	require.True(t, served, "started: %v", err)
	first, _, _ := strings.Cut(logs, "\n")
	require.Contains(t, first, `"message":"starting with this configuration"`)
	require.Equal(t, 1, strings.Count(logs, "starting with this configuration"))
}

// TestLogDurationsHaveUnits: no log call writes a time.Duration field
// (zerolog's Dur writes milliseconds under a name that says nothing); a
// duration is logged as a number whose name carries the unit, like
// took_seconds.
func TestLogDurationsHaveUnits(t *testing.T) {
	dur := regexp.MustCompile(`\.(Dur|Durs|TimeDiff)\(`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "vendor" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			if dur.MatchString(sc.Text()) {
				t.Errorf("%s:%d logs a duration without its unit: %s", path, n, strings.TrimSpace(sc.Text()))
			}
		}
		return sc.Err()
	})
	require.NoError(t, err)
}
