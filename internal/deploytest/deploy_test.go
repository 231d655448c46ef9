// Package deploytest checks the deployment files under deploy/ without
// running them: the Docker Compose stack, the Kubernetes manifests (and
// that the generated ones match their sources), the Grafana dashboards and
// their provisioning, and every PromQL expression of the dashboards and the
// rule files with the real promtool.
//
// It also checks the alerting side (rules_test.go): the rules and their unit
// tests with promtool, the Alertmanager example, and that every alert is
// complete and has a runbook.
//
// It holds only tests. Docker, Kubernetes and Grafana are not needed;
// promtool is: when it is missing the tests run scripts/ensure-prometheus.sh
// and fail if it is still unavailable. That the metrics the dashboards and
// rules query are exported by the aggregator is checked where the
// aggregator can run: cmd/aggregator/dashboards_test.go.
package deploytest

import (
	"os/exec"
	"testing"
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

	// regenerate is the command that writes the generated manifests.
	regenerate = "go run ./cmd/genrules"

	// job is the Prometheus job of the aggregator that the alert rules
	// select (up{job="helpdesk-kpi-aggregator"}).
	job = "helpdesk-kpi-aggregator"
)

// run runs a command in dir and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
