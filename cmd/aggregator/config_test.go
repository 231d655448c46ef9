package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

func noEnv(string) string { return "" }

func TestDefaultsAndShippedExampleConfig(t *testing.T) {
	def, err := parseFlags(nil, noEnv, &strings.Builder{})
	require.NoError(t, err)
	// The example file spells out the defaults: loading it changes nothing.
	withFile, err := parseFlags([]string{"-config", "../../deploy/config/aggregator.yaml"}, noEnv, &strings.Builder{})
	require.NoError(t, err)
	require.Equal(t, def.KPI, withFile.KPI)
	require.Equal(t, def.Ingest, withFile.Ingest)
	require.Equal(t, []kpi.Window{{Name: "15m", Width: 15 * time.Minute}, {Name: "1h", Width: time.Hour}, {Name: "24h", Width: 24 * time.Hour}, {Name: "7d", Width: 7 * 24 * time.Hour}}, def.KPI.Windows)
}

func TestFlagsEnvironmentAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte("windows: [5m, 2w]\nquantiles: [0.75]\nteams: [a, b]\nstream:\n  create: false\n"), 0o600))
	env := map[string]string{"AGGREGATOR_HTTP_ADDR": "127.0.0.1:1234", "AGGREGATOR_DATA_DIR": "/from/env", "AGGREGATOR_CONFIG": file}
	cfg, err := parseFlags([]string{"-data-dir", "/from/flag"}, func(k string) string { return env[k] }, &strings.Builder{})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1234", cfg.HTTPAddr) // environment
	require.Equal(t, "/from/flag", cfg.DataDir)      // the flag wins
	require.Equal(t, []kpi.Window{{Name: "5m", Width: 5 * time.Minute}, {Name: "2w", Width: 14 * 24 * time.Hour}}, cfg.KPI.Windows)
	require.Equal(t, []float64{0.75}, cfg.KPI.Quantiles)
	require.Equal(t, []string{"a", "b"}, cfg.KPI.Teams)
	require.False(t, cfg.Ingest.CreateStream)
}

func TestBadConfigNamesTheField(t *testing.T) {
	cases := []struct {
		name string
		args []string
		yaml string
		want string
	}{
		{"bad listen address", []string{"-http-addr", "nonsense"}, "", "-http-addr"},
		{"bad NATS URL", []string{"-nats-url", "::"}, "", "-nats-url"},
		{"bad log level", []string{"-log-level", "loud"}, "", "-log-level"},
		{"unknown YAML field", nil, "windws: [1h]\n", "windws"},
		{"bad window", nil, "windows: [1 hour]\n", "windows"},
		{"tiny window", nil, "windows: [10s]\n", "windows"},
		{"quantile out of range", nil, "quantiles: [0.5, 1.5]\n", "quantiles"},
		{"quantiles not ascending", nil, "quantiles: [0.9, 0.5]\n", "quantiles"},
		{"reserved channel", nil, "channels: [email, all]\n", "channels"},
		{"too many teams admitted", nil, "max_teams: 1000\n", "max_teams"},
		{"hold_for zero", nil, "hold_for: 0s\n", "hold_for"},
		{"stream kept shorter than the window", nil, "stream:\n  max_age: 1h\n", "stream.max_age"},
		{"bad stream name", nil, "stream:\n  name: a.b\n", "stream.name"},
		{"unknown priority", nil, "sla:\n  first_reply: {critical: 5m}\n", "sla.first_reply.critical"},
		{"bad target", nil, "sla:\n  resolution: {low: soon}\n", "sla.resolution.low"},
		{"warn fraction", nil, "sla:\n  warn_fraction: 1.5\n", "sla.warn_fraction"},
		{"bad zone", nil, "sla:\n  business_hours: {timezone: Mars/Olympus, monday: [\"09:00-17:00\"]}\n", "sla.business_hours.timezone"},
		{"bad hours", nil, "sla:\n  business_hours: {timezone: UTC, monday: [\"9-17\"]}\n", "sla.business_hours.monday"},
		{"no hours", nil, "sla:\n  business_hours: {timezone: UTC}\n", "no opening hours"},
		{"bad holiday", nil, "sla:\n  business_hours: {timezone: UTC, monday: [\"09:00-17:00\"], holidays: [christmas]}\n", "sla.business_hours.holidays"},
		{"negative max_agents", nil, "max_agents: -1\n", "max_agents"},
		{"reserved agent", nil, "agents: [other]\n", "agents"},
		{"policy without name", nil, "sla:\n  policies:\n    - match: {team: [vip]}\n", "sla.policies[0].name"},
		{"policy named twice", nil, "sla:\n  policies:\n    - name: a\n    - name: a\n", `sla.policies[1].name: "a" appears twice`},
		{"policy keys beside policies", nil, "sla:\n  first_reply: {urgent: 5m}\n  policies:\n    - name: a\n", "put first_reply"},
		{"match on an unknown priority", nil, "sla:\n  policies:\n    - name: a\n      match: {priority: [p1]}\n", "sla.policies[0].match.priority"},
		{"match on a channel not listed", nil, "sla:\n  policies:\n    - name: a\n      match: {channel: [fax]}\n", "sla.policies[0].match.channel"},
		{"unknown pause SLA", nil, "sla:\n  pause_on: {reply: [pending]}\n", "sla.pause_on.reply"},
		{"unknown pause status", nil, "sla:\n  pause_on: {resolution: [waiting]}\n", "sla.pause_on.resolution"},
		{"bad none", nil, "sla:\n  next_reply: never\n", "none"},
		{"zero target", nil, "sla:\n  next_reply: {low: 0s}\n", "sla.next_reply.low"},
		{"policy hours", nil, "sla:\n  policies:\n    - name: a\n      business_hours: {timezone: UTC}\n", "sla.policies[0].business_hours"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				file := filepath.Join(t.TempDir(), "c.yaml")
				require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
				args = append(args, "-config", file)
			}
			_, err := parseFlags(args, noEnv, &strings.Builder{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestSLAPolicies: the policies form, with match, none, pause_on and
// per-policy business hours; omitted keys take the defaults.
func TestSLAPolicies(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
teams: [enterprise, support]
max_agents: 20
sla:
  warn_fraction: 0.75
  policies:
    - name: enterprise
      match: {team: [enterprise], priority: [urgent, high]}
      first_reply: {urgent: 10m}
      next_reply: none
      pause_on: {first_reply: [on_hold]}
      business_hours: {timezone: UTC, monday: ["09:00-17:00"]}
    - name: default
`), 0o600))
	cfg, err := parseFlags([]string{"-config", file}, noEnv, &strings.Builder{})
	require.NoError(t, err)
	require.Equal(t, 20, cfg.KPI.MaxAgents)
	c := cfg.KPI.SLA
	require.Equal(t, 0.75, c.WarnFraction)
	require.Len(t, c.Policies, 2)
	ent, def := c.Policies[0], c.Policies[1]
	require.Equal(t, "enterprise", ent.Name)
	require.Equal(t, []string{"enterprise"}, ent.Match.Teams)
	require.Equal(t, []events.Priority{events.PriorityUrgent, events.PriorityHigh}, ent.Match.Priorities)
	require.Equal(t, 10*time.Minute, ent.Targets[sla.FirstReply][events.PriorityUrgent])
	require.Equal(t, time.Hour, ent.Targets[sla.FirstReply][events.PriorityHigh]) // default kept
	require.Equal(t, [events.NumPriorities]time.Duration{}, ent.Targets[sla.NextReply])
	require.True(t, ent.PauseOn[sla.FirstReply].Has(events.StatusOnHold))
	require.True(t, ent.PauseOn[sla.Resolution].Has(events.StatusPending)) // default kept
	require.NotNil(t, ent.Hours)
	require.Equal(t, "default", def.Name)
	require.True(t, def.Match.Empty())
	require.Equal(t, 2*time.Hour, def.Targets[sla.NextReply][events.PriorityHigh])
	require.Nil(t, def.Hours)
}

func TestSLAConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
sla:
  warn_fraction: 0.5
  first_reply: {urgent: 10m}
  business_hours:
    timezone: Europe/Berlin
    monday: ["09:00-12:00", "13:00-17:00"]
    friday: ["09:00-17:00"]
    holidays: ["2026-12-25"]
`), 0o600))
	cfg, err := parseFlags([]string{"-config", file}, noEnv, &strings.Builder{})
	require.NoError(t, err)
	require.Equal(t, 0.5, cfg.KPI.SLA.WarnFraction)
	require.Len(t, cfg.KPI.SLA.Policies, 1)
	p := cfg.KPI.SLA.Policies[0]
	require.Equal(t, "default", p.Name)
	require.Equal(t, 10*time.Minute, p.Targets[sla.FirstReply][events.PriorityUrgent])
	require.Equal(t, time.Hour, p.Targets[sla.FirstReply][events.PriorityHigh]) // default kept
	require.NotNil(t, p.Hours)
	// Friday 16:30 Berlin + 1h: 30 min on Friday, 30 min from Monday 09:00.
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	got := p.Hours.Add(time.Date(2026, 11, 27, 16, 30, 0, 0, berlin), time.Hour)
	require.True(t, time.Date(2026, 11, 30, 9, 30, 0, 0, berlin).Equal(got), "got %v", got)
}

// TestEmbeddedNATSAddr refuses to run the embedded NATS server, which has
// no authentication, on anything but loopback unless
// -embedded-nats-allow-remote says so.
func TestEmbeddedNATSAddr(t *testing.T) {
	refused := func(addr string) string {
		return `-embedded-nats-addr: "` + addr + `": the embedded NATS server has no authentication, so it listens on loopback only (127.0.0.0/8, ::1 or localhost, like 127.0.0.1:4222); set -embedded-nats-allow-remote to accept unauthenticated connections from the network, or use -nats-url with a secured NATS`
	}
	for _, tc := range []struct {
		addr        string
		allowRemote bool
		natsURL     string
		want        string // the error, empty when accepted
	}{
		{"127.0.0.1:4222", false, "", ""},
		{"127.1.2.3:4222", false, "", ""},
		{"[::1]:4222", false, "", ""},
		{"localhost:4222", false, "", ""},
		{"LocalHost:4222", false, "", ""},
		{"0.0.0.0:4222", false, "", refused("0.0.0.0:4222")},
		{":4222", false, "", refused(":4222")},
		{"[::]:4222", false, "", refused("[::]:4222")},
		{"192.168.1.10:4222", false, "", refused("192.168.1.10:4222")},
		{"nats.example.com:4222", false, "", refused("nats.example.com:4222")},
		{"localhost.example.com:4222", false, "", refused("localhost.example.com:4222")},
		{"0.0.0.0:4222", true, "", ""},
		{":4222", true, "", ""},
		{"192.168.1.10:4222", true, "", ""},
		// Not used with -nats-url: no embedded server starts.
		{"0.0.0.0:4222", false, "nats://127.0.0.1:4222", ""},
	} {
		name := tc.addr
		if tc.allowRemote {
			name += " -embedded-nats-allow-remote"
		}
		if tc.natsURL != "" {
			name += " -nats-url"
		}
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.EmbeddedNATSAddr, cfg.EmbeddedNATSAllowRemote, cfg.NATSURL = tc.addr, tc.allowRemote, tc.natsURL
			if tc.want == "" {
				require.NoError(t, cfg.Validate())
			} else {
				require.EqualError(t, cfg.Validate(), tc.want)
			}
		})
	}

	_, err := parseFlags([]string{"-embedded-nats-addr", "0.0.0.0:4222"}, noEnv, &strings.Builder{})
	require.EqualError(t, err, refused("0.0.0.0:4222"))
	cfg, err := parseFlags([]string{"-embedded-nats-addr", "0.0.0.0:4222", "-embedded-nats-allow-remote"}, noEnv, &strings.Builder{})
	require.NoError(t, err)
	require.True(t, cfg.EmbeddedNATSAllowRemote)
	env := map[string]string{"AGGREGATOR_EMBEDDED_NATS_ADDR": ":4222", "AGGREGATOR_EMBEDDED_NATS_ALLOW_REMOTE": "true"}
	cfg, err = parseFlags(nil, func(k string) string { return env[k] }, &strings.Builder{})
	require.NoError(t, err)
	require.True(t, cfg.EmbeddedNATSAllowRemote)
	require.Equal(t, ":4222", cfg.EmbeddedNATSAddr)
}
