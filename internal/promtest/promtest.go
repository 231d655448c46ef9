// Package promtest is a test helper for the tests that run the real
// Prometheus tools (promtool, prometheus, Alertmanager) against the files in
// deploy/: it finds the repository, reads its YAML, and finds the tools,
// installing them with scripts/ensure-prometheus.sh when they are missing.
package promtest

import (
	"os"
	"os/exec"
	"path/filepath"
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
