// Package promtest is a test helper for the tests that run the real
// Prometheus tools (promtool, prometheus, Alertmanager) against the files in
// deploy/: it finds the repository, reads its YAML, and finds the tools,
// installing them with scripts/ensure-prometheus.sh when they are missing.
package promtest

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// EnsureScript installs the tools; see its comment.
const EnsureScript = "scripts/ensure-prometheus.sh"

// RepoRoot returns the module root: the nearest directory above the
// working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
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

// ReadYAML parses a file into v, failing the test on any error.
func ReadYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoErrorf(t, yaml.Unmarshal(b, v), "parse %s", path)
}

// Tool returns the path of the first of names found on PATH, running
// EnsureScript once when none is. It fails the test when the tool stays
// unavailable: the tests that need it must run, not skip.
func Tool(t testing.TB, names ...string) string {
	t.Helper()
	look := func() string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
		}
		return ""
	}
	if p := look(); p != "" {
		return p
	}
	cmd := exec.Command("bash", EnsureScript)
	cmd.Dir = RepoRoot(t)
	out, err := cmd.CombinedOutput()
	p := look()
	require.NotEmptyf(t, p, "%v is needed and was not found on PATH; %s could not install it (%v):\n%s", names, EnsureScript, err, out)
	return p
}

// The rule files under test, relative to the module root.
const (
	RulesFile     = "deploy/prometheus/alerts.yml"
	RulesTestFile = "deploy/prometheus/alerts_test.yml"
)

// Expr is one PromQL expression and where it comes from.
type Expr struct {
	Where, Expr string
}

// RuleExprs returns every PromQL expression of the rule files under root:
// the rules, the queries in their annotations ({{ query "…" }}), and the
// expressions the rule unit tests evaluate; and the names the recording
// rules define.
func RuleExprs(t testing.TB, root string) (exprs []Expr, recorded map[string]bool) {
	t.Helper()
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	ReadYAML(t, filepath.Join(root, RulesFile), &rf)
	templateQuery := regexp.MustCompile("\\bquery\\s+(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")
	recorded = map[string]bool{}
	for _, g := range rf.Groups {
		for i, r := range g.Rules {
			where := fmt.Sprintf("%s: group %s, rule %d (%s)", RulesFile, g.Name, i+1, cmp.Or(r.Alert, r.Record))
			exprs = append(exprs, Expr{where, r.Expr})
			if r.Record != "" {
				recorded[r.Record] = true
			}
			for _, name := range slices.Sorted(maps.Keys(r.Annotations)) {
				for _, m := range templateQuery.FindAllStringSubmatch(r.Annotations[name], -1) {
					q, err := strconv.Unquote(m[1])
					require.NoErrorf(t, err, "%s: annotation %s: %s", where, name, m[1])
					exprs = append(exprs, Expr{where + ", annotation " + name, q})
				}
			}
		}
	}
	var tf struct {
		Tests []struct {
			PromQLExprTest []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	ReadYAML(t, filepath.Join(root, RulesTestFile), &tf)
	for i, tc := range tf.Tests {
		for j, e := range tc.PromQLExprTest {
			exprs = append(exprs, Expr{fmt.Sprintf("%s: test %d, promql_expr_test %d", RulesTestFile, i+1, j+1), e.Expr})
		}
	}
	return exprs, recorded
}
