package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// parseYAML parses text as the -config file.
func parseYAML(t *testing.T, text string) Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	cfg, err := parseFlags([]string{"-config", file}, noEnv, &strings.Builder{})
	require.NoError(t, err, "%s", text)
	return cfg
}

// TestConfigPoliciesExample uncomments the policies example at the end of
// deploy/config/aggregator.yaml and loads it.
func TestConfigPoliciesExample(t *testing.T) {
	src, err := os.ReadFile("../../deploy/config/aggregator.yaml")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(src), "\n# sla:\n")
	require.True(t, ok, "no commented sla: example")
	var b strings.Builder
	b.WriteString("sla:\n")
	for line := range strings.Lines(block) {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
	}
	cfg := parseYAML(t, b.String())
	ps := cfg.KPI.SLA.Policies
	require.Len(t, ps, 4)
	require.Equal(t, []string{"enterprise", "urgent_chat", "internal", "default"}, []string{ps[0].Name, ps[1].Name, ps[2].Name, ps[3].Name})
	require.Equal(t, 30*time.Minute, ps[0].Targets[sla.NextReply][events.PriorityUrgent])
	require.NotNil(t, ps[0].Hours)
	require.True(t, ps[0].PauseOn[sla.FirstReply].Has(events.StatusOnHold))
	require.Equal(t, 5*time.Minute, ps[1].Targets[sla.FirstReply][events.PriorityUrgent])
	require.Equal(t, 4*time.Hour, ps[1].Targets[sla.FirstReply][events.PriorityNormal]) // default kept
	require.Equal(t, []string{"chat"}, ps[1].Match.Channels)
	require.Zero(t, ps[2].Targets[sla.NextReply])
	require.Zero(t, ps[2].Targets[sla.Resolution])
	require.Equal(t, sla.DefaultPolicy().Targets, ps[3].Targets)
	require.True(t, ps[3].Match.Empty())
	// The single-policy keys above it spell out the defaults.
	require.Equal(t, sla.DefaultConfig(), parseYAML(t, "windows: [1h]\n").KPI.SLA)
}

// TestDocYAMLExamplesParse loads every sla: example of the README and
// docs/sla.md.
func TestDocYAMLExamplesParse(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\n(sla:.*?)```")
	n := 0
	for _, doc := range []string{"../../README.md", "../../docs/sla.md"} {
		src, err := os.ReadFile(doc)
		require.NoError(t, err)
		for _, m := range block.FindAllStringSubmatch(string(src), -1) {
			cfg := parseYAML(t, m[1])
			n++
			if doc != "../../docs/sla.md" {
				continue
			}
			// The policies TestDocTransferChangesThePolicy (internal/kpi)
			// builds by hand.
			ps := cfg.KPI.SLA.Policies
			require.Len(t, ps, 3)
			require.Equal(t, "enterprise", ps[0].Name)
			require.Equal(t, []string{"enterprise"}, ps[0].Match.Teams)
			require.Equal(t, 30*time.Minute, ps[0].Targets[sla.FirstReply][events.PriorityHigh])
			require.Equal(t, time.Hour, ps[0].Targets[sla.NextReply][events.PriorityHigh])
			require.Equal(t, 8*time.Hour, ps[0].Targets[sla.Resolution][events.PriorityHigh])
			require.Equal(t, sla.StatusesOf(events.StatusOnHold), ps[0].PauseOn[sla.FirstReply])
			require.Equal(t, "internal", ps[1].Name)
			require.Equal(t, []string{"it"}, ps[1].Match.Teams)
			require.Zero(t, ps[1].Targets[sla.NextReply])
			require.Zero(t, ps[1].Targets[sla.Resolution])
			require.Equal(t, sla.DefaultPolicy().Targets[sla.FirstReply], ps[1].Targets[sla.FirstReply])
			require.Equal(t, sla.DefaultPolicy(), ps[2])
		}
	}
	require.GreaterOrEqual(t, n, 2)
}

// TestDocExamplesNameTheirTests checks that every test docs/sla.md says
// checks a worked example exists.
func TestDocExamplesNameTheirTests(t *testing.T) {
	src, err := os.ReadFile("../../docs/sla.md")
	require.NoError(t, err)
	var tests strings.Builder
	for _, f := range []string{"docs_example_test.go", "sla_test.go", "slav2_test.go"} {
		b, err := os.ReadFile(filepath.Join("../../internal/kpi", f))
		require.NoError(t, err)
		tests.Write(b)
	}
	names := regexp.MustCompile("Checked by `(Test\\w+)`").FindAllStringSubmatch(string(src), -1)
	require.Len(t, names, 5)
	for _, m := range names {
		require.Contains(t, tests.String(), "func "+m[1]+"(t *testing.T)")
	}
}
