package main

// The Grafana dashboards and the Prometheus rules query the aggregator by
// metric name. A name that the aggregator does not export (a typo, a
// rename, a histogram without its _bucket suffix) is not an error anywhere:
// the panel shows "No data", the alert never fires. These tests run the
// aggregator, feed it a simulated helpdesk, and check that every name the
// dashboards and rules use is on /metrics, and that the command lines of
// the deployment files are ones the aggregator accepts. The PromQL itself
// is checked with promtool in internal/deploytest.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/promtest"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

// Deployment files, relative to this package's directory.
const (
	dashDir            = "../../deploy/grafana/dashboards"
	dashRulesFile      = "../../deploy/prometheus/alerts.yml"
	dashRulesTestFile  = "../../deploy/prometheus/alerts_test.yml"
	dashComposeFile    = "../../deploy/compose/docker-compose.yml"
	dashDeploymentFile = "../../deploy/k8s/deployment.yaml"
	dashConfigMapFile  = "../../deploy/k8s/configmap.yaml"
	dashDockerfile     = "../../Dockerfile"
)

// dashPrometheusSeries are the names the queries may use that Prometheus
// itself makes, not the aggregator.
var dashPrometheusSeries = map[string]bool{"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true}

// dashExpr is one PromQL expression and where it comes from.
type dashExpr struct{ where, expr string }

// dashboardExprs returns every PromQL expression of the dashboards: the
// "expr" of panel targets and annotations, and the selector of label_values
// variable queries.
func dashboardExprs(t *testing.T) []dashExpr {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	labelValues := regexp.MustCompile(`(?s)^\s*label_values\(\s*(.+)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	var out []dashExpr
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d any
		require.NoErrorf(t, json.Unmarshal(data, &d), "parse %s", f)
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if title, ok := v["title"].(string); ok {
					path += fmt.Sprintf(" %q", title)
				}
				for _, k := range slices.Sorted(maps.Keys(v)) {
					if s, ok := v[k].(string); ok && (k == "expr" || k == "definition") {
						if k == "definition" {
							m := labelValues.FindStringSubmatch(s)
							if m == nil {
								continue
							}
							s = m[1]
						}
						out = append(out, dashExpr{filepath.Base(f) + ": " + path, s})
						continue
					}
					walk(path+"."+k, v[k])
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), e)
				}
			}
		}
		walk("", d)
	}
	return out
}

// dashRuleExprs returns every PromQL expression of the rule files and the
// names the recording rules define.
func dashRuleExprs(t *testing.T) (exprs []dashExpr, recorded map[string]bool) {
	t.Helper()
	all, recorded := promtest.RuleExprs(t, promtest.RepoRoot(t))
	for _, e := range all {
		exprs = append(exprs, dashExpr{e.Where, e.Expr})
	}
	return exprs, recorded
}

// promqlKeywords are the words of PromQL that are not metric names, when
// not followed by a parenthesis: aggregation operators (sum by (x) (…)),
// binary and modifier keywords, and number literals.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true,
}

// promqlLabelLists are the keywords followed by a list of label names.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names an expression selects, in
// order of appearance. It is a tokenizer, not a parser (promtool checks the
// syntax): it skips strings, comments, label matchers ({…}), ranges and
// subqueries ([…]), Grafana variables, numbers and durations, label lists
// after by/without/on/ignoring/group_left/group_right, and identifiers
// followed by "(" (functions) or that are keywords. What remains is metric
// names, and __name__="…" matchers.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	// skipString returns the index after the string starting at i.
	skipString := func(i int) (int, error) {
		q := expr[i]
		for j := i + 1; j < len(expr); j++ {
			switch {
			case expr[j] == '\\' && q != '`':
				j++
			case expr[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at offset %d", i)
	}
	// skipGroup returns the index after the bracket closing the one at i,
	// and the text between them.
	skipGroup := func(i int) (int, string, error) {
		open := expr[i]
		closer := map[byte]byte{'(': ')', '[': ']', '{': '}'}[open]
		depth := 0
		for j := i; j < len(expr); {
			switch expr[j] {
			case '"', '\'', '`':
				k, err := skipString(j)
				if err != nil {
					return 0, "", err
				}
				j = k
				continue
			case open:
				depth++
			case closer:
				depth--
				if depth == 0 {
					return j + 1, expr[i+1 : j], nil
				}
			}
			j++
		}
		return 0, "", fmt.Errorf("unbalanced %c at offset %d", open, i)
	}
	nameMatcher := regexp.MustCompile(`(?:^|[{,\s])__name__\s*=\s*"([^"]+)"`)
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{' || c == '[':
			j, inner, err := skipGroup(i)
			if err != nil {
				return nil, err
			}
			if c == '{' {
				for _, m := range nameMatcher.FindAllStringSubmatch(inner, -1) {
					names = append(names, m[1])
				}
			}
			i = j
		case c == '$':
			// A Grafana variable: $name or ${…}.
			i++
			if i < len(expr) && expr[i] == '{' {
				j, _, err := skipGroup(i)
				if err != nil {
					return nil, err
				}
				i = j
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(expr) && '0' <= expr[i+1] && expr[i+1] <= '9':
			// A number or a duration: 0.95, 1e9, 0x1f, 5m, 1h30m.
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.' ||
				(expr[i] == '+' || expr[i] == '-') && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && (expr[k] == ' ' || expr[k] == '\t' || expr[k] == '\n' || expr[k] == '\r') {
				k++
			}
			lower := strings.ToLower(word)
			switch {
			case promqlLabelLists[lower] && k < len(expr) && expr[k] == '(':
				end, _, err := skipGroup(k)
				if err != nil {
					return nil, err
				}
				j = end
			case promqlKeywords[lower]:
			case k < len(expr) && expr[k] == '(':
				// A function call: its arguments follow.
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names, nil
}

func TestDashboardMetricNameTokenizer(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`helpdesk_open_tickets{channel="all", priority="$priority"}`, []string{"helpdesk_open_tickets"}},
		{`histogram_quantile(0.9, sum by (priority, le) (rate(x_bucket[$__rate_interval])))`, []string{"x_bucket"}},
		{"sum without (instance, outcome) (rate(a_total{outcome=\"breached\"}[5m]))\n/ sum without (instance, outcome) (rate(a_total[5m]))", []string{"a_total", "a_total"}},
		{`slo:x:ratio{priority!="all"} / on () group_left () slo:error_budget:ratio > 14.4`, []string{"slo:x:ratio", "slo:error_budget:ratio"}},
		{`time() - helpdesk_snapshot_last_success_timestamp_seconds > 900`, []string{"helpdesk_snapshot_last_success_timestamp_seconds"}},
		{`vector(0.95)`, nil},
		{`1 - slo:objective:ratio`, []string{"slo:objective:ratio"}},
		{`sum(x) by (le) * 1e3 + count_values("v", y offset 1h) and bool z`, []string{"x", "y", "z"}},
		{`label_replace(up{job="a"}, "dst", "$1", "src", "(.*)") # up is here`, []string{"up"}},
		{`{__name__="by_name", job="x"} + max_over_time(m[1h:5m] @ start())`, []string{"by_name", "m"}},
		{"a\n  > 1.5 * b\nand\nc >= 50", []string{"a", "b", "c"}},
		{`sum by (team) (rate(x{team=~"${team:regex}"}[$__range])) * 3600`, []string{"x"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := promqlMetricNames(tc.expr)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := promqlMetricNames(`x{a="b}`)
	require.Error(t, err)
}

// TestDashboardAndRuleMetricsExist checks that every metric name of every
// dashboard and rule expression is exported by the running aggregator, or
// is a recorded series that alerts.yml defines.
func TestDashboardAndRuleMetricsExist(t *testing.T) {
	ruleExprs, recorded := dashRuleExprs(t)
	exprs := slices.Concat(dashboardExprs(t), ruleExprs)

	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow)
	_, js := srv.Connect(t)
	waitStream(t, js)

	// Six hours of a small helpdesk up to the aggregator's clock: every
	// kind of event, surveys, and open tickets whose SLA targets are still
	// ahead (so helpdesk_sla_next_breach_seconds is exported).
	// The v1 stream: the dashboards do not use v2 series yet, and v1 is
	// all that this aggregator is sure to decode.
	cfg := simulate.Config{Seed: 42, Start: testNow.Add(-6 * time.Hour), TicketsPerHour: 150}
	require.NoError(t, cfg.Validate())
	gen := simulate.NewGenerator(cfg)
	n := 0
	for m := gen.Next(); m.OccurredAt.Before(testNow); m = gen.Next() {
		msg := nats.NewMsg(m.Subject)
		msg.Data = m.Data
		msg.Header.Set(jetstream.MsgIDHeader, m.MsgID)
		_, err := js.PublishMsgAsync(msg)
		require.NoError(t, err)
		n++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged within 30s")
	}
	var scraped map[string]float64
	waitFor(t, 30*time.Second, fmt.Sprintf("all %d events applied", n), func() bool {
		scraped = scrape(t, agg.url)
		handled := scraped[`helpdesk_events_duplicate_total{}`]
		for k, v := range scraped {
			if strings.HasPrefix(k, "helpdesk_events_total{") || strings.HasPrefix(k, "helpdesk_events_rejected_total{") {
				handled += v
			}
		}
		return int(handled) == n && scraped[`helpdesk_consumer_pending_messages{}`] == 0
	})
	exported := map[string]bool{}
	for k := range scraped {
		name, _, _ := strings.Cut(k, "{")
		exported[name] = true
	}

	checked := map[string]bool{}
	for _, e := range exprs {
		names, err := promqlMetricNames(e.expr)
		require.NoErrorf(t, err, "%s: %s", e.where, e.expr)
		for _, name := range names {
			checked[name] = true
			switch {
			case strings.Contains(name, ":"):
				if !recorded[name] {
					t.Errorf("%s: %s is a recorded series (level:metric:operations) that no recording rule in alerts.yml defines", e.where, name)
				}
			case exported[name], dashPrometheusSeries[name]:
			case exported[name+"_bucket"]:
				t.Errorf("%s: %s is a histogram; query %s_bucket, _sum or _count (the bare name only exists with native histograms)", e.where, name, name)
			default:
				t.Errorf("%s: the aggregator does not export %s (in %s)", e.where, name, strings.TrimSpace(e.expr))
			}
		}
	}
	t.Logf("%d expressions use %d metric names; %d events applied, %d series exported", len(exprs), len(checked), n, len(scraped))
	// The checks above must have seen the conditional series.
	for _, name := range []string{"helpdesk_sla_next_breach_seconds", "helpdesk_first_reply_duration_seconds_bucket", "helpdesk_nps_score"} {
		require.Truef(t, checked[name], "no dashboard or rule queries %s any more; update this test", name)
	}
}

// TestDeployCommandLines parses the command lines of the compose file and
// the Kubernetes Deployment with the aggregator's own flag parser, with
// their environment, the image's, and the configuration files they mount.
func TestDeployCommandLines(t *testing.T) {
	imageEnv := map[string]string{}
	dockerfile, err := os.ReadFile(dashDockerfile)
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^ENV\s+(\w+)=(\S+)`).FindAllStringSubmatch(string(dockerfile), -1) {
		imageEnv[m[1]] = m[2]
	}
	getenv := func(env map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return imageEnv[k]
		}
	}
	// hostArgs replaces the value of -config with the host file behind it.
	hostArgs := func(args []string, files map[string]string) []string {
		out := slices.Clone(args)
		for i, a := range out {
			if v, ok := strings.CutPrefix(a, "-config="); ok {
				require.Containsf(t, files, v, "-config %s is not a mounted file", v)
				out[i] = "-config=" + files[v]
			}
		}
		return out
	}

	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	promtest.ReadYAML(t, dashComposeFile, &compose)

	t.Run("compose aggregator", func(t *testing.T) {
		s := compose.Services["aggregator"]
		files := map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if strings.HasPrefix(parts[0], ".") {
				files[parts[1]] = filepath.Join(filepath.Dir(dashComposeFile), parts[0])
			}
		}
		cfg, err := parseFlags(hostArgs(s.Command, files), getenv(s.Environment), io.Discard)
		require.NoError(t, err)
		require.Equal(t, "nats://nats:4222", cfg.NATSURL)
		require.Equal(t, "objectstore", cfg.SnapshotStore)
	})

	t.Run("compose simulator", func(t *testing.T) {
		// Every flag it passes is a flag of `aggregator simulate`.
		var usage strings.Builder
		err := runSimulate(t.Context(), []string{"-h"}, func(string) string { return "" }, &usage, io.Discard)
		require.True(t, errors.Is(err, flag.ErrHelp), "simulate -h: %v", err)
		known := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
			known[m[1]] = true
		}
		cmd := compose.Services["simulator"].Command
		require.Equal(t, "simulate", cmd[0])
		for _, a := range cmd[1:] {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			require.Truef(t, known[name], "simulator: -%s is not a flag of aggregator simulate", name)
		}
	})

	t.Run("kubernetes", func(t *testing.T) {
		var dep struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Args []string `yaml:"args"`
							Env  []struct {
								Name  string `yaml:"name"`
								Value string `yaml:"value"`
							} `yaml:"env"`
							VolumeMounts []struct {
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		promtest.ReadYAML(t, dashDeploymentFile, &dep)
		var cm struct {
			Data map[string]string `yaml:"data"`
		}
		promtest.ReadYAML(t, dashConfigMapFile, &cm)
		require.Len(t, dep.Spec.Template.Spec.Containers, 1)
		c := dep.Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		// The ConfigMap's keys are files in its mount.
		files := map[string]string{}
		dir := t.TempDir()
		for key, content := range cm.Data {
			p := filepath.Join(dir, key)
			require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			for _, m := range c.VolumeMounts {
				files[strings.TrimSuffix(m.MountPath, "/")+"/"+key] = p
			}
		}
		cfg, err := parseFlags(hostArgs(c.Args, files), getenv(env), io.Discard)
		require.NoError(t, err)
		require.Equal(t, env["AGGREGATOR_NATS_URL"], cfg.NATSURL)
		require.Equal(t, "objectstore", cfg.SnapshotStore)
		require.Equal(t, "/tmp", cfg.DataDir, "a directory the image has, on a read-only root filesystem")
	})
}
