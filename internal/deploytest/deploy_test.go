// Package deploytest checks the deployment files under deploy/ without
// running them: the Docker Compose stack, the Kubernetes manifests (and
// that the generated ones match their sources), the Grafana dashboards and
// their provisioning, and every PromQL expression of the dashboards and the
// rule files with the real promtool.
//
// It holds only tests. Docker, Kubernetes and Grafana are not needed;
// promtool is, as in internal/rulestest: when it is missing the tests run
// scripts/ensure-promtool.sh and fail if it is still unavailable. That the
// metrics the dashboards and rules query are exported by the aggregator is
// checked where the aggregator can run: cmd/aggregator/dashboards_test.go.
package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// Files and directories under test, relative to the module root.
const (
	composeFile        = "deploy/compose/docker-compose.yml"
	composePromConfig  = "deploy/compose/prometheus.yml"
	k8sDir             = "deploy/k8s"
	prometheusRuleFile = "deploy/k8s/prometheusrule.yaml"
	configMapFile      = "deploy/k8s/configmap.yaml"
	dashboardsDir      = "deploy/grafana/dashboards"
	grafanaDatasources = "deploy/grafana/provisioning/datasources/prometheus.yml"
	grafanaProviders   = "deploy/grafana/provisioning/dashboards/helpdesk.yml"
	rulesFile          = "deploy/prometheus/alerts.yml"
	rulesTestFile      = "deploy/prometheus/alerts_test.yml"
	aggregatorConfig   = "deploy/config/aggregator.yaml"
	dockerfile         = "Dockerfile"
	ensureScript       = "scripts/ensure-promtool.sh"

	// regenerate is the command that writes the generated manifests.
	regenerate = "go run ./cmd/genrules"

	// job is the Prometheus job of the aggregator that the alert rules
	// select (up{job="helpdesk-kpi-aggregator"}).
	job = "helpdesk-kpi-aggregator"
)

// repoRoot returns the module root: the nearest directory above the working
// directory that holds go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqualf(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// readYAML parses a file into v, failing the test on any error.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoErrorf(t, yaml.Unmarshal(b, v), "parse %s", path)
}

// promtool returns the path of promtool, installing it with ensureScript
// when it is missing; it fails the test when promtool stays unavailable.
func promtool(t *testing.T, root string) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	out, scriptErr := run(t, root, "bash", ensureScript)
	p, err := exec.LookPath("promtool")
	require.NoErrorf(t, err,
		"promtool is required to check the PromQL of the dashboards and rules and was not found on PATH; "+
			"%s could not install it (%v):\n%s", ensureScript, scriptErr, out)
	return p
}

// run runs a command in dir and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
