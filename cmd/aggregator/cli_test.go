package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestFlagValueErrors: a value a flag cannot take is one line naming the
// flag (or its environment variable) and what a valid value looks like,
// without the usage.
func TestFlagValueErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-snapshot-interval", "5 minutes"}, nil, `-snapshot-interval: "5 minutes" is not a duration; use a value like 30s, 5m or 1h`},
		{[]string{"-shutdown-timeout=30"}, nil, `-shutdown-timeout: "30" is not a duration; use a value like 30s, 5m or 1h`},
		{[]string{"-embedded-nats-allow-remote=yes"}, nil, `-embedded-nats-allow-remote: "yes" is not a boolean; use true or false (-embedded-nats-allow-remote alone is true)`},
		{nil, map[string]string{"AGGREGATOR_SNAPSHOT_INTERVAL": "5 minutes"}, `AGGREGATOR_SNAPSHOT_INTERVAL (-snapshot-interval): "5 minutes" is not a duration; use a value like 30s, 5m or 1h`},
		{nil, map[string]string{"AGGREGATOR_EMBEDDED_NATS_ALLOW_REMOTE": "yes"}, `AGGREGATOR_EMBEDDED_NATS_ALLOW_REMOTE (-embedded-nats-allow-remote): "yes" is not a boolean; use true or false (-embedded-nats-allow-remote alone is true)`},
		{[]string{"-snapshot-intervall", "5m"}, nil, `-snapshot-intervall: no such flag (aggregator -h lists the flags)`},
		{[]string{"-http-addr"}, nil, `-http-addr: needs a value, like -http-addr=VALUE (aggregator -h lists the flags)`},
		{[]string{"simulate"}, nil, `unexpected argument "simulate": flags start with -, and the subcommands are simulate and bench (aggregator -h lists both)`},
		{[]string{"-snapshot-interval", "0s"}, nil, `-snapshot-interval: 0s: must be at least 1s`},
	} {
		t.Run(strings.Join(tc.args, " ")+envText(tc.env), func(t *testing.T) {
			var out strings.Builder
			_, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, &out)
			require.EqualError(t, err, tc.want)
			require.Empty(t, out.String(), "no usage on an error")
		})
	}
	// The subcommands' flags alike.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "-backfill", "a day"}, `-backfill: "a day" is not a duration; use a value like 30s, 5m or 1h`},
		{[]string{"simulate", "-count", "many"}, `-count: "many" is not a whole number; use a value like 100`},
		{[]string{"simulate", "-seed", "-1"}, `-seed: "-1" is not a whole number of 0 or more; use a value like 42`},
		{[]string{"simulate", "-rate", "fast"}, `-rate: "fast" is not a number; use a value like 0.5 or 100`},
		{[]string{"simulate", "-v1=maybe"}, `-v1: "maybe" is not a boolean; use true or false (-v1 alone is true)`},
		{[]string{"simulate", "-count", "99999999999999999999"}, `-count: "99999999999999999999" is out of range; use a value like 100`},
		{[]string{"bench", "-events", "lots"}, `-events: "lots" is not a whole number; use a value like 100`},
		{[]string{"bench", "-nope"}, `-nope: no such flag (aggregator bench -h lists the flags)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := dispatch(context.Background(), tc.args, noEnv, &stdout, &stderr)
			require.EqualError(t, err, tc.want)
			require.Empty(t, stdout.String()+stderr.String(), "no usage on an error")
		})
	}
}

func envText(env map[string]string) string {
	var s string
	for k, v := range env {
		s += " " + k + "=" + v
	}
	return s
}

// TestConfigFileErrors: an error in the -config file names the file, the
// line and the key path; never a Go type.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       string // %s is the file
	}{
		{"not a number", "windows: [15m, 1h]\nmax_teams: lots\n", `%s: line 2: max_teams: want a whole number, got "lots"`},
		{"not a bool", "stream:\n  name: X\n  create: maybe\n", `%s: line 3: stream.create: want true or false, got "maybe"`},
		{"list for a scalar", "sla:\n  first_reply: {urgent: [5m]}\n", `%s: line 2: sla.first_reply.urgent: want a single value, got a list`},
		{"scalar for a list", "teams: billing\n", `%s: line 1: teams: want a list, like [a, b], got "billing"`},
		{"map for a list", "quantiles:\n  p50: 0.5\n", `%s: line 2: quantiles: want a list of numbers, like [0.5, 0.9], got a map`},
		{"a list, not a map", "- windows\n", `%s: line 1: want a map of settings at the top level, got a list`},
		{"two type errors", "max_teams: x\nmax_agents: y\n", "%[1]s: line 1: max_teams: want a whole number, got \"x\"\n%[1]s: line 2: max_agents: want a whole number, got \"y\""},
		{"unknown field", "windws: [1h]\n", `%s: line 1: field windws not found`},
		{"unknown nested field", "windows: [1h]\nsla:\n  frist_reply: {urgent: 5m}\n", `%s: line 3: field frist_reply not found in sla`},
		{"unknown field in a policy", "sla:\n  policies:\n    - name: a\n      mach: {team: [x]}\n", `%s: line 4: field mach not found in sla.policies[0]`},
		{"syntax", "windows: [15m\n", `%s: line 1: did not find expected ',' or ']'`},
		{"targets, not none", "sla:\n  next_reply: never\n", `%s: line 2: sla.next_reply: want a map of priority to duration (urgent: 15m) or none, got "never"`},
		{"ours: a bad window", "windows: [15m,\n  1 hour]\n", `%s: line 2: windows: "1 hour": want a duration like 15m, 1h, 7d`},
		{"ours: a priority", "sla:\n  first_reply:\n    critical: 5m\n", `%s: line 3: sla.first_reply.critical: unknown priority; use low, normal, high or urgent`},
		{"ours: a webhook without its secret", "ingest:\n  webhooks:\n    zendesk: {}\n", `%s: line 3: ingest.webhooks.zendesk.secret_file: required: the file holding the zendesk signing secret or shared token`},
		{"validation: range", "windows: [1h]\nmax_teams: 1000\n", `%s: line 2: max_teams: 1000: must be from 0 to 250`},
		{"validation: a policy twice", "sla:\n  policies:\n    - name: a\n    - name: a\n", `%s: line 4: sla.policies[1].name: "a" appears twice`},
		{"validation: two errors", "windows: [30s]\nhold_for: 0s\n", `%s: line 1: windows: "30s": must be at least 1m` + "\n" + `%s: line 2: hold_for: 0s: must be at least 1s`},
		{"duplicate teams", "teams: [billing, support, billing]\n", `%s: line 1: teams: "billing" appears twice`},
		{"duplicate channels", "channels:\n  - email\n  - chat\n  - email\n", `%s: line 2: channels: "email" appears twice`},
		{"channel not in lower case", "channels: [email, Chat]\n", `%s: line 1: channels: "Chat": must be lower case, like "chat" (events' channels are matched exactly, and publishers send them in lower case)`},
		{"duplicate agents", "agents: [a-1, a-1]\n", `%s: line 1: agents: "a-1" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "aggregator.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			_, err := parseFlags([]string{"-config", file}, noEnv, &strings.Builder{})
			want := strings.ReplaceAll(tc.want, "%s", file)
			want = strings.ReplaceAll(want, "%[1]s", file)
			require.EqualError(t, err, want)
			require.NotContains(t, err.Error(), "main.")
		})
	}
}

// TestValidationErrorsOfTheFile: errors naming a key get the file name,
// and its line when the key (or an ancestor) is in the file; errors
// naming a flag stay as they are.
func TestValidationErrorsOfTheFile(t *testing.T) {
	f := newYAMLFile("c.yaml", []byte("stream:\n  name: x\n"))
	err := f.wrapValidation(errors.Join(
		errors.New("-http-addr: \"x\": missing port"),
		errors.New("stream.max_age: 1h0m0s: must be at least the longest window"),
		errors.New("max_teams: 1000: must be from 0 to 250"),
	))
	require.EqualError(t, err, `-http-addr: "x": missing port`+"\n"+
		`c.yaml: line 1: stream.max_age: 1h0m0s: must be at least the longest window`+"\n"+
		`c.yaml: max_teams: 1000: must be from 0 to 250`)
	require.NoError(t, f.wrapValidation(nil))
	var none *yamlFile
	require.EqualError(t, none.wrapValidation(errors.New("max_teams: 1000")), "max_teams: 1000")
}

// TestHelp: -h exits 0 and lists the subcommands and every flag's
// environment variable; simulate -h shows a stable default seed.
func TestHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	require.Equal(t, 0, realMain([]string{"-h"}, noEnv, &stdout, &stderr))
	require.Empty(t, stderr.String())
	help := stdout.String()
	for _, sub := range []string{"aggregator simulate [flags]", "aggregator bench [flags]", "aggregator -version"} {
		require.Contains(t, help, sub)
	}
	var cfg Config
	var v bool
	fs := newFlagSet(&cfg, &v)
	fs.VisitAll(func(f *flag.Flag) {
		require.Regexp(t, "\n  -"+regexp.QuoteMeta(f.Name)+"[ \n]", help)
		if f.Name != "version" {
			require.Contains(t, help, "("+envName(f.Name)+")")
		}
	})
	require.NotContains(t, help, "AGGREGATOR_VERSION")

	simHelp := func() string {
		var stdout, stderr strings.Builder
		require.Equal(t, 0, realMain([]string{"simulate", "-h"}, noEnv, &stdout, &stderr))
		require.Empty(t, stderr.String())
		return stdout.String()
	}
	first := simHelp()
	require.Contains(t, first, "  -seed uint   (AGGREGATOR_SEED)\n    \trandom seed; the same seed gives the same stream (default 1)\n")
	require.Equal(t, first, simHelp(), "simulate -h is the same every time")

	stdout.Reset()
	require.Equal(t, 0, realMain([]string{"bench", "-h"}, noEnv, &stdout, &stderr))
	require.Contains(t, stdout.String(), "  -events int\n")
	require.NotContains(t, stdout.String(), "AGGREGATOR_", "bench reads no environment")

	// Errors exit 1 with one line.
	stdout.Reset()
	require.Equal(t, 1, realMain([]string{"-snapshot-interval", "5 minutes"}, noEnv, &stdout, &stderr))
	require.Equal(t, "aggregator: -snapshot-interval: \"5 minutes\" is not a duration; use a value like 30s, 5m or 1h\n", stderr.String())
	require.Empty(t, stdout.String())
}

func TestVersion(t *testing.T) {
	var stdout, stderr strings.Builder
	// The environment does not turn -version on.
	require.Equal(t, 0, realMain([]string{"-version"}, func(k string) string {
		return map[string]string{"AGGREGATOR_SNAPSHOT_INTERVAL": "nonsense"}[k]
	}, &stdout, &stderr))
	require.Equal(t, currentBuild().String()+"\n", stdout.String())
	require.Regexp(t, `^aggregator \S+ \(revision \S+, go1\.\S+\)\n$`, stdout.String())
	require.Empty(t, stderr.String())

	info := func(v string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/helpdesk-kpi/aggregator", Version: v}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		name          string
		info          *debug.BuildInfo
		ok            bool
		stamped, srev string
		want          build
	}{
		{"go build in a checkout", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "false"), true, "", "", build{"devel", "abc123", "go1.26.8"}},
		{"uncommitted changes", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "true"), true, "", "", build{"devel", "abc123-dirty", "go1.26.8"}},
		{"go install module@version", info("v1.4.0"), true, "", "", build{"v1.4.0", "unknown", "go1.26.8"}},
		{"pseudo-version from VCS", info("v0.0.0-20261123120000-abc123abc123+dirty", "vcs.revision", "abc123abc123", "vcs.modified", "true"), true, "", "", build{"v0.0.0-20261123120000-abc123abc123+dirty", "abc123abc123-dirty", "go1.26.8"}},
		{"no VCS (a Docker build without .git), stamped", info("(devel)"), true, "v1.5.0", "def456", build{"v1.5.0", "def456", "go1.26.8"}},
		{"stamped version, VCS revision", info("(devel)", "vcs.revision", "abc123"), true, "v1.5.0", "", build{"v1.5.0", "abc123", "go1.26.8"}},
		{"no build info", nil, false, "", "", build{"devel", "unknown", runtime.Version()}},
		{"empty version", info(""), true, "", "", build{"devel", "unknown", "go1.26.8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, buildFrom(tc.info, tc.ok, tc.stamped, tc.srev))
		})
	}

	reg := newRegistry(build{"v1.5.0", "def456", "go1.26.8"})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP helpdesk_build_info Always 1: the aggregator's version, VCS revision and Go version, in labels.
# TYPE helpdesk_build_info gauge
helpdesk_build_info{goversion="go1.26.8",revision="def456",version="v1.5.0"} 1
`), "helpdesk_build_info"))
}

// requireBuildInfo checks the helpdesk_build_info series a process of the
// binary bin serves against what `bin -version` prints.
func requireBuildInfo(t *testing.T, bin string, m map[string]float64) {
	t.Helper()
	out, err := exec.Command(bin, "-version").Output()
	require.NoError(t, err)
	v := regexp.MustCompile(`^aggregator (\S+) \(revision (\S+), (\S+)\)\n$`).FindStringSubmatch(string(out))
	require.NotNil(t, v, "%s -version: %q", bin, out)
	k := key("helpdesk_build_info", map[string]string{"version": v[1], "revision": v[2], "goversion": v[3]})
	require.Equal(t, 1.0, m[k], "%s in /metrics", k)
	require.Equal(t, runtime.Version(), v[3])
	var series []string
	for s := range m {
		if strings.HasPrefix(s, "helpdesk_build_info{") {
			series = append(series, s)
		}
	}
	require.Equal(t, []string{k}, series)
}

// readmeFlagTable returns the flags the README's configuration table
// lists.
func readmeFlagTable(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(src), "\n## Configuration\n")
	require.True(t, ok)
	_, table, ok := strings.Cut(section, "| flag | default | |\n")
	require.True(t, ok, "no flag table under ## Configuration")
	var flags []string
	for line := range strings.Lines(table) {
		if !strings.HasPrefix(line, "|") {
			break
		}
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`-([a-z0-9-]+)`").FindAllStringSubmatch(first, -1) {
			flags = append(flags, m[1])
		}
	}
	return flags
}

// TestREADMEFlagTable: the README lists every flag, and only flags.
func TestREADMEFlagTable(t *testing.T) {
	var cfg Config
	var v bool
	var declared []string
	newFlagSet(&cfg, &v).VisitAll(func(f *flag.Flag) { declared = append(declared, f.Name) })
	listed := readmeFlagTable(t)
	slices.Sort(listed)
	require.Equal(t, declared, listed, "the README's flag table (## Configuration) and flags.go")
}

// TestBuildLineMatchesDockerfile: the README's build command and the
// Dockerfile's build the same binary.
func TestBuildLineMatchesDockerfile(t *testing.T) {
	build := regexp.MustCompile(`CGO_ENABLED=0 go build .*? \./cmd/aggregator`)
	flagsOf := func(cmd string) string {
		return regexp.MustCompile(` -o \S+`).ReplaceAllString(cmd, "")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	docker, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	r, d := build.FindString(string(readme)), build.FindString(string(docker))
	require.NotEmpty(t, r, "no build line in the README")
	require.NotEmpty(t, d, "no build line in the Dockerfile")
	require.Equal(t, flagsOf(d), flagsOf(r))
	require.Contains(t, d, "-X main.version=")
	ignore, err := os.ReadFile("../../.dockerignore")
	require.NoError(t, err)
	for _, p := range []string{".git", "data/"} {
		require.Contains(t, strings.Fields(string(ignore)), p)
	}
}
