// The alerting side: the Prometheus rules in deploy/prometheus/alerts.yml
// with the real promtool (check rules, and the unit tests in
// alerts_test.yml), the example Alertmanager configuration with amtool when
// it is installed, and that every alert is complete (severity, summary,
// description, a runbook section that exists).

package deploytest

import (
	"bufio"
	"github.com/helpdesk-kpi/aggregator/internal/promtest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

const (
	amConfigFile = "deploy/alertmanager/alertmanager.yml"
	runbooksFile = "docs/runbooks.md"
	// metricDocs are the files that document the exported metrics: a
	// metric the rules use must be named in one of them.
	metricDocs = "README.md docs/*.md"

	runbookBase = "https://github.com/helpdesk-kpi/aggregator/blob/main/docs/runbooks.md#"
)

// ruleFile is the part of a Prometheus rule file the checks read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// ruleTestFile is the part of a promtool unit test file the checks read.
type ruleTestFile struct {
	Tests []struct {
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestPromtool runs the real promtool: the rules must load (with duplicate
// rules an error) and pass their unit tests.
func TestPromtool(t *testing.T) {
	root := promtest.RepoRoot(t)
	promtool := promtest.Tool(t, "promtool")

	t.Run("check rules", func(t *testing.T) {
		out, err := run(t, root, promtool, "check", "rules", "--lint-fatal", rulesFile)
		require.NoErrorf(t, err, "promtool check rules %s:\n%s", rulesFile, out)
	})
	t.Run("test rules", func(t *testing.T) {
		out, err := run(t, root, promtool, "test", "rules", rulesTestFile)
		require.NoErrorf(t, err, "promtool test rules %s:\n%s", rulesTestFile, out)
	})
}

func TestAlertmanagerConfig(t *testing.T) {
	root := promtest.RepoRoot(t)

	t.Run("amtool check-config", func(t *testing.T) {
		amtool, err := exec.LookPath("amtool")
		if err != nil {
			t.Skip("amtool not installed (Debian package prometheus-alertmanager); skipping amtool check-config")
		}
		out, err := run(t, root, amtool, "check-config", amConfigFile)
		require.NoErrorf(t, err, "amtool check-config %s:\n%s", amConfigFile, out)
	})

	// team is the on-call owner and helpdesk_team the helpdesk team: the
	// example routes a helpdesk team's alerts to its channel on
	// helpdesk_team (and on to the support leads), and a helpdesk team
	// named like an on-call team ("platform") never reaches that on-call.
	t.Run("routes on helpdesk_team, team is the on-call team", func(t *testing.T) {
		amtool, err := exec.LookPath("amtool")
		if err != nil {
			t.Skip("amtool not installed (Debian package prometheus-alertmanager); skipping the routing test")
		}
		for _, tc := range []struct {
			labels []string
			want   string
		}{
			{[]string{"alertname=HelpdeskNextReplySLAAtRisk", "severity=warning", "team=support", "sla=next_reply", "helpdesk_team=billing"}, "billing-chat,support-chat"},
			{[]string{"alertname=HelpdeskNextReplySLAAtRisk", "severity=warning", "team=support", "sla=next_reply", "helpdesk_team=tier-2"}, "support-chat"},
			{[]string{"alertname=HelpdeskCSATDrop", "severity=warning", "team=support", "window=24h", "helpdesk_team=billing"}, "billing-chat,support-chat"},
			{[]string{"alertname=HelpdeskBacklogSurge", "severity=warning", "team=support", "helpdesk_team=platform"}, "support-chat"},
			{[]string{"alertname=HelpdeskSLABreached", "severity=critical", "team=support", "sla=first_reply", "priority=urgent", "helpdesk_team=all"}, "support-pager"},
			{[]string{"alertname=HelpdeskSLABreachedOpenTickets", "severity=warning", "team=support", "sla=first_reply", "priority=urgent", "helpdesk_team=all"}, "support-chat"},
			{[]string{"alertname=HelpdeskAggregatorDown", "severity=critical", "team=platform"}, "platform-pager"},
		} {
			args := append([]string{"config", "routes", "test", "--config.file=" + amConfigFile, "category=business"}, tc.labels...)
			out, err := run(t, root, amtool, args...)
			require.NoErrorf(t, err, "amtool config routes test:\n%s", out)
			require.Equalf(t, tc.want, lastLine(out), "%v: receivers", tc.labels)
		}
	})

	// The inhibition of business alerts names the health alerts; a renamed
	// alert would silently stop inhibiting.
	t.Run("inhibited-by alerts exist", func(t *testing.T) {
		var cfg struct {
			InhibitRules []struct {
				SourceMatchers []string `yaml:"source_matchers"`
				TargetMatchers []string `yaml:"target_matchers"`
			} `yaml:"inhibit_rules"`
		}
		promtest.ReadYAML(t, filepath.Join(root, amConfigFile), &cfg)
		require.NotEmpty(t, cfg.InhibitRules)

		alerts := alertsByName(t, root)
		nameMatcher := regexp.MustCompile(`^alertname\s*=~?\s*"([^"]+)"$`)
		categoryMatcher := regexp.MustCompile(`^category\s*=\s*"([^"]+)"$`)
		for _, ir := range cfg.InhibitRules {
			for _, m := range slices.Concat(ir.SourceMatchers, ir.TargetMatchers) {
				if sm := nameMatcher.FindStringSubmatch(m); sm != nil {
					for _, name := range strings.Split(sm[1], "|") {
						require.Containsf(t, alerts, name, "%s: matcher %q names an alert that %s does not define", amConfigFile, m, rulesFile)
					}
				}
				if sm := categoryMatcher.FindStringSubmatch(m); sm != nil {
					found := false
					for _, rs := range alerts {
						for _, r := range rs {
							found = found || r.Labels["category"] == sm[1]
						}
					}
					require.Truef(t, found, "%s: matcher %q matches no alert of %s", amConfigFile, m, rulesFile)
				}
			}
		}
	})
}

// TestAlertsAreComplete checks what promtool does not: every alert has the
// labels routing needs, the annotations a responder needs, and a runbook
// section that exists.
func TestAlertsAreComplete(t *testing.T) {
	root := promtest.RepoRoot(t)
	alerts := alertsByName(t, root)
	require.NotEmpty(t, alerts)
	anchors := markdownAnchors(t, filepath.Join(root, runbooksFile))
	runbooks, err := os.ReadFile(filepath.Join(root, runbooksFile))
	require.NoError(t, err)
	sections := map[string]string{} // by heading
	for _, sec := range strings.Split(string(runbooks), "\n## ")[1:] {
		heading, body, _ := strings.Cut(sec, "\n")
		sections[strings.TrimSpace(heading)] = body
	}

	for name, rules := range alerts {
		t.Run(name, func(t *testing.T) {
			for i, r := range rules {
				where := name + " rule " + strconv.Itoa(i+1)
				require.Containsf(t, []string{"critical", "warning"}, r.Labels["severity"], "%s: label severity", where)
				require.Containsf(t, []string{"business", "health"}, r.Labels["category"], "%s: label category", where)
				require.NotEmptyf(t, r.For, "%s: no for:", where)
				for _, a := range []string{"summary", "description", "runbook_url"} {
					require.NotEmptyf(t, strings.TrimSpace(r.Annotations[a]), "%s: annotation %s", where, a)
				}
				url := r.Annotations["runbook_url"]
				require.Truef(t, strings.HasPrefix(url, runbookBase), "%s: runbook_url %q does not start with %s", where, url, runbookBase)
				anchor := strings.TrimPrefix(url, runbookBase)
				require.Containsf(t, anchors, anchor, "%s: runbook_url anchor #%s is not a heading in %s", where, anchor, runbooksFile)
				// Every alert says what it asks of the responder and when it
				// clears, in its own section.
				for _, part := range []string{"**Asks you to…**", "**Clears when…**"} {
					require.Containsf(t, sections[name], part, "%s: the section ## %s of %s has no %s", where, name, runbooksFile, part)
				}
			}
		})
	}
}

// TestAlertTeamLabels checks the meaning of team and helpdesk_team in every
// rule: team is a fixed label of the rule (the on-call owner, never a
// series' team, which the rule label replaces), and every business alert
// that reads a helpdesk_ series (which all have a team label) copies the
// series' team to helpdesk_team with label_replace first. Only alerts on
// recorded series that sum the teams away (the burn rate) have none.
func TestAlertTeamLabels(t *testing.T) {
	root := promtest.RepoRoot(t)
	copyTeam := regexp.MustCompile(`label_replace\(\s*[\s\S]*"helpdesk_team",\s*"\$1",\s*"team",\s*"\(\.\*\)"\s*\)`)
	rawSeries := regexp.MustCompile(`(^|[^:\w])helpdesk_\w+`)
	for name, rules := range alertsByName(t, root) {
		for i, r := range rules {
			where := name + " rule " + strconv.Itoa(i+1)
			require.Containsf(t, []string{"platform", "support"}, r.Labels["team"], "%s: label team must be the on-call team, set by the rule", where)
			require.NotContainsf(t, r.Labels, "helpdesk_team", "%s: helpdesk_team comes from the series, not the rule", where)
			for _, a := range []string{"summary", "description"} {
				require.NotContainsf(t, r.Annotations[a], "$labels.team", "%s: %s uses $labels.team, the on-call team; the helpdesk team is $labels.helpdesk_team", where, a)
			}
			if r.Labels["category"] == "business" && rawSeries.MatchString(r.Expr) {
				require.Regexpf(t, copyTeam, r.Expr, "%s: reads helpdesk series but does not copy their team to helpdesk_team", where)
			}
		}
	}
}

// TestEveryAlertIsUnitTested checks that alerts_test.yml shows every alert
// both firing and silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	root := promtest.RepoRoot(t)
	var tf ruleTestFile
	promtest.ReadYAML(t, filepath.Join(root, rulesTestFile), &tf)

	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, at := range tc.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				firing[at.Alertname] = true
			} else {
				silent[at.Alertname] = true
			}
		}
	}
	for name := range alertsByName(t, root) {
		require.Truef(t, firing[name], "%s: no alert_rule_test in %s expects it to fire", name, rulesTestFile)
		require.Truef(t, silent[name], "%s: no alert_rule_test in %s expects it to stay silent", name, rulesTestFile)
	}
}

// TestMetricNamesAreDocumented guards against rules that query a metric
// the aggregator does not export (a typo or a rename) or that its
// documentation does not explain: every helpdesk_ metric the rules and
// their tests use must be named in the README or in docs/.
func TestMetricNamesAreDocumented(t *testing.T) {
	root := promtest.RepoRoot(t)
	metric := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	known := map[string]bool{}
	for _, pattern := range strings.Fields(metricDocs) {
		docs, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		require.NotEmpty(t, docs, pattern)
		for _, doc := range docs {
			text, err := os.ReadFile(doc)
			require.NoError(t, err)
			for _, m := range metric.FindAllString(string(text), -1) {
				known[m] = true
			}
		}
	}
	for _, f := range []string{rulesFile, rulesTestFile} {
		text, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		for _, m := range metric.FindAllString(string(text), -1) {
			// Recorded series (level:metric:operations) are ours to name,
			// and so are the labels the rules add.
			if !strings.HasPrefix(m, "helpdesk_") || strings.Contains(m, ":") || ruleLabels[m] {
				continue
			}
			require.Truef(t, known[m], "%s uses metric %s, which neither of %s names", f, m, metricDocs)
		}
	}
}

// lastLine returns the last non-empty line of out (amtool prints the
// receivers there, after any warnings).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ruleLabels are the label names the rules add that start like a metric
// name: HelpdeskNextReplySLAAtRisk copies the series' team into
// helpdesk_team (team is the on-call team of every alert).
var ruleLabels = map[string]bool{"helpdesk_team": true}

// alertsByName reads the alerting rules of rulesFile by alert name (an alert
// may have several rules, for example one per severity).
func alertsByName(t *testing.T, root string) map[string][]rule {
	t.Helper()
	var rf ruleFile
	promtest.ReadYAML(t, filepath.Join(root, rulesFile), &rf)
	alerts := map[string][]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[r.Alert] = append(alerts[r.Alert], r)
			}
		}
	}
	return alerts
}

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lowercased, spaces to '-', punctuation other than '-' and
// '_' dropped, and "-1", "-2"… appended to repeats. Code blocks are skipped.
func markdownAnchors(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	var anchors []string
	seen := map[string]int{}
	inCode := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		heading := strings.TrimLeft(line, "#")
		if inCode || heading == line || !strings.HasPrefix(heading, " ") {
			continue
		}
		a := githubAnchor(heading)
		if n := seen[a]; n > 0 {
			anchors = append(anchors, a+"-"+strconv.Itoa(n))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	require.NoError(t, sc.Err())
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"HelpdeskSLAErrorBudgetBurn", "helpdeskslaerrorbudgetburn"},
		{" What it means ", "what-it-means"},
		{"Runbooks: `up` == 0, really?", "runbooks-up--0-really"},
		{"snake_case and-dash", "snake_case-and-dash"},
	} {
		t.Run(tc.heading, func(t *testing.T) {
			require.Equal(t, tc.want, githubAnchor(tc.heading))
		})
	}
}
