package deploytest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"github.com/helpdesk-kpi/aggregator/internal/promtest"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// dashboard is the part of a Grafana dashboard (JSON model) the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []panel
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string         `json:"name"`
			BuiltIn    int            `json:"builtIn"`
			Expr       string         `json:"expr"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a row
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": …} for Prometheus query variables
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Regex      string          `json:"regex"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
	Options []struct {
		Value any `json:"value"`
	} `json:"options"`
}

// queryText returns the query of a variable, whichever form it is in.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
		return q.Query
	}
	return v.Definition
}

// datasourceVar is how every panel and query names its datasource: the
// dashboard variable of type datasource, so that a dashboard works with
// any Prometheus, whatever its uid.
const datasourceVar = "${datasource}"

// loadDashboards parses every dashboard JSON file, by file name.
func loadDashboards(t *testing.T, root string) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in %s", dashboardsDir)
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoErrorf(t, json.Unmarshal(data, &d), "parse %s", f)
		out[filepath.Base(f)] = d
	}
	return out
}

// walkPanels calls fn for every panel, rows' panels included.
func walkPanels(ps []panel, fn func(panel)) {
	for _, p := range ps {
		fn(p)
		walkPanels(p.Panels, fn)
	}
}

func TestDashboards(t *testing.T) {
	root := promtest.RepoRoot(t)
	dashboards := loadDashboards(t, root)
	uids := map[string]string{}
	for file, d := range dashboards {
		t.Run(file, func(t *testing.T) {
			require.NotEmpty(t, d.UID, "uid")
			require.NotContainsf(t, uids, d.UID, "uid %s is also the uid of %s", d.UID, uids[d.UID])
			uids[d.UID] = file
			require.NotEmpty(t, d.Title, "title")
			require.GreaterOrEqual(t, d.SchemaVersion, 39, "schemaVersion")

			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				require.NotContainsf(t, vars, v.Name, "variable %s is defined twice", v.Name)
				vars[v.Name] = v
				if v.Type == "query" {
					require.Equalf(t, datasourceVar, v.Datasource.UID, "variable %s: datasource", v.Name)
				}
			}
			ds, ok := vars["datasource"]
			require.True(t, ok, "no variable datasource")
			require.Equal(t, "datasource", ds.Type)
			require.Equal(t, "prometheus", ds.queryText())

			ids := map[int]bool{}
			n := 0
			walkPanels(d.Panels, func(p panel) {
				where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
				require.NotZerof(t, p.ID, "%s: no id", where)
				require.Falsef(t, ids[p.ID], "%s: id %d is used twice", where, p.ID)
				ids[p.ID] = true
				require.NotNilf(t, p.GridPos, "%s: no gridPos", where)
				require.Truef(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X >= 0 && p.GridPos.X+p.GridPos.W <= 24, "%s: gridPos %+v", where, *p.GridPos)
				require.NotEmptyf(t, p.Title, "%s: no title", where)
				if p.Type == "row" || p.Type == "text" {
					require.Emptyf(t, p.Targets, "%s: a %s has no queries", where, p.Type)
					return
				}
				n++
				require.NotNilf(t, p.Datasource, "%s: no datasource", where)
				require.Equalf(t, datasourceRef{"prometheus", datasourceVar}, *p.Datasource, "%s: datasource", where)
				require.NotEmptyf(t, p.Targets, "%s: no targets", where)
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					require.NotEmptyf(t, strings.TrimSpace(tg.Expr), "%s: target %s has no expr", where, tg.RefID)
					require.Falsef(t, refs[tg.RefID], "%s: refId %s is used twice", where, tg.RefID)
					refs[tg.RefID] = true
					if tg.Datasource != nil {
						require.Equalf(t, datasourceVar, tg.Datasource.UID, "%s: target %s: datasource", where, tg.RefID)
					}
				}
			})
			require.Greater(t, n, 0, "no panels")
			requireNoOverlap(t, d.Panels)
		})
	}

	// The overview has the variables of the issue; the windows offered are
	// the windows the aggregator is configured with.
	overview, ok := dashboards["helpdesk-overview.json"]
	require.True(t, ok, "no helpdesk-overview.json")
	_, ok = dashboards["helpdesk-team.json"]
	require.True(t, ok, "no helpdesk-team.json (the per-team drill-down)")
	vars := map[string]variable{}
	for _, v := range overview.Templating.List {
		vars[v.Name] = v
	}
	var agg struct {
		Windows []string `yaml:"windows"`
	}
	promtest.ReadYAML(t, filepath.Join(root, aggregatorConfig), &agg)
	window := vars["window"]
	var offered []string
	for _, o := range window.Options {
		offered = append(offered, fmt.Sprint(o.Value))
	}
	require.Equal(t, agg.Windows, offered, "variable window: the options must be the windows of %s", aggregatorConfig)
	for _, label := range []string{"channel", "priority", "team"} {
		v, ok := vars[label]
		require.Truef(t, ok, "overview: no variable %s", label)
		require.Equal(t, "query", v.Type)
		require.Regexpf(t, `^label_values\(helpdesk_[a-z_]+\{.*\},\s*`+label+`\)$`, v.queryText(), "variable %s: query", label)
		// Multi-select with All; All is the label value all (the overall
		// series), never Grafana's list of every value, which would add the
		// breakdowns up; all itself is not offered twice.
		require.Truef(t, v.Multi && v.IncludeAll, "variable %s: multi-select with All", label)
		require.Equalf(t, "all", v.AllValue, "variable %s: All must select the series %s=\"all\"", label, label)
		require.Equalf(t, "/^(?!all$).+$/", v.Regex, "variable %s: the value all is offered as All", label)
	}
	// A multi-select variable holds a regular expression: every use is a
	// regex matcher (label=~"$var").
	for file, d := range dashboards {
		multi := map[string]bool{}
		for _, v := range d.Templating.List {
			multi[v.Name] = v.Multi
		}
		walkPanels(d.Panels, func(p panel) {
			for _, tg := range p.Targets {
				for _, m := range regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"\$\{?(\w+)`).FindAllStringSubmatch(tg.Expr, -1) {
					if multi[m[3]] {
						require.Equalf(t, "=~", m[2], "%s: panel %d %q: %s%s\"$%s\" on a multi-select variable", file, p.ID, p.Title, m[1], m[2], m[3])
					}
				}
			}
		})
	}
}

// requireNoOverlap fails when two panels of the same level cover the same
// grid cell (Grafana would move one, not what was designed).
func requireNoOverlap(t *testing.T, ps []panel) {
	t.Helper()
	var flat []panel
	walkPanels(ps, func(p panel) { flat = append(flat, p) })
	for i, a := range flat {
		for _, b := range flat[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Fatalf("panels %d %q and %d %q overlap", a.ID, a.Title, b.ID, b.Title)
			}
		}
	}
}

// promExpr is one PromQL expression and where it comes from.
type promExpr struct {
	where string
	expr  string
}

// Variable references in Grafana's syntax: $name, [[name:format]],
// ${name.path:format} (the regular expression of Grafana's template service).
var grafanaVar = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// grafanaBuiltins are the global variables a query may use, with the values
// used to check it.
var grafanaBuiltins = map[string]string{
	"__rate_interval":    "5m",
	"__rate_interval_ms": "300000",
	"__interval":         "1m",
	"__interval_ms":      "60000",
	"__range":            "1h",
	"__range_s":          "3600",
	"__range_ms":         "3600000",
}

// samples are the values the dashboard variables take in the check: once
// the default, once another real value (a team name with regular
// expression metacharacters in it, as team names may have).
var samples = []map[string]string{
	{"channel": "all", "priority": "all", "team": "all"},
	{"channel": "email", "priority": "urgent", "team": "tier-2.emea"},
}

// interpolate replaces the Grafana variables of expr as Grafana's
// Prometheus datasource does, with values[name]. Unknown variables and
// formats are errors.
func interpolate(expr string, vars map[string]variable, values map[string]string) (string, error) {
	var err error
	out := grafanaVar.ReplaceAllStringFunc(expr, func(ref string) string {
		m := grafanaVar.FindStringSubmatch(ref)
		name, format := cmp.Or(m[1], m[2], m[4]), cmp.Or(m[3], m[6])
		if m[5] != "" {
			err = fmt.Errorf("%s: field paths are not supported here", ref)
			return ref
		}
		if strings.HasPrefix(name, "__") {
			v, ok := grafanaBuiltins[name]
			if !ok {
				err = fmt.Errorf("%s: unknown global variable", ref)
			}
			return v
		}
		v, ok := vars[name]
		if !ok {
			err = fmt.Errorf("%s: no variable %s in the dashboard", ref, name)
			return ref
		}
		val := values[name]
		switch format {
		case "":
			if v.Multi || v.IncludeAll {
				// Grafana escapes every regular expression
				// metacharacter with two backslashes (one
				// for the PromQL string).
				return regexp.MustCompile(`[$^*{}\[\]'+?.()|\\]`).ReplaceAllString(val, `\\$0`)
			}
			return val
		case "raw", "text", "csv", "pipe", "glob":
			return val
		case "regex":
			// One backslash: inside a PromQL string that is an
			// invalid escape, which the check then reports.
			return regexp.MustCompile(`[\\^$*+?.()|\[\]{}/]`).ReplaceAllString(val, `\$0`)
		}
		err = fmt.Errorf("%s: format %s is not checked here; add it to interpolate", ref, format)
		return ref
	})
	return out, err
}

// labelValues matches the label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`(?s)^\s*label_values\(\s*(.+)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// dashboardExprs returns every PromQL expression of the dashboards, with
// their variables replaced by each sample.
func dashboardExprs(t *testing.T, root string) []promExpr {
	t.Helper()
	var out []promExpr
	seen := map[string]bool{}
	dashboards := loadDashboards(t, root)
	for _, file := range slices.Sorted(maps.Keys(dashboards)) {
		d := dashboards[file]
		vars := map[string]variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		var raw []promExpr
		walkPanels(d.Panels, func(p panel) {
			for _, tg := range p.Targets {
				raw = append(raw, promExpr{fmt.Sprintf("%s: panel %d %q, target %s", file, p.ID, p.Title, tg.RefID), tg.Expr})
			}
		})
		for _, a := range d.Annotations.List {
			if a.Expr != "" {
				raw = append(raw, promExpr{fmt.Sprintf("%s: annotation %q", file, a.Name), a.Expr})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q := v.queryText()
			if m := labelValues.FindStringSubmatch(q); m != nil {
				raw = append(raw, promExpr{fmt.Sprintf("%s: variable %s", file, v.Name), m[1]})
			} else if inner, ok := strings.CutPrefix(strings.TrimSpace(q), "query_result("); ok {
				raw = append(raw, promExpr{fmt.Sprintf("%s: variable %s", file, v.Name), strings.TrimSuffix(inner, ")")})
			} else {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label) or query_result(expr)", file, v.Name, q)
			}
		}
		for _, e := range raw {
			for i, s := range samples {
				values := map[string]string{"datasource": "prometheus"}
				for _, v := range d.Templating.List {
					switch {
					case v.Type == "custom" && i == 0:
						values[v.Name] = fmt.Sprint(v.Current.Value)
					case v.Type == "custom":
						values[v.Name] = fmt.Sprint(v.Options[len(v.Options)-1].Value)
					case v.Type == "query":
						values[v.Name] = cmp.Or(s[v.Name], "x-1.y")
					}
				}
				expr, err := interpolate(e.expr, vars, values)
				require.NoErrorf(t, err, "%s: %s", e.where, e.expr)
				if !seen[expr] {
					seen[expr] = true
					out = append(out, promExpr{e.where, expr})
				}
			}
		}
	}
	return out
}

// ruleExprs returns every PromQL expression of the rule files.
func ruleExprs(t *testing.T, root string) []promExpr {
	t.Helper()
	exprs, _ := promtest.RuleExprs(t, root)
	out := make([]promExpr, len(exprs))
	for i, e := range exprs {
		out[i] = promExpr{e.Where, e.Expr}
	}
	return out
}

// TestDashboardAndRuleExpressionsParse checks every PromQL expression of the
// dashboards (variables replaced as Grafana would) and of the rule files
// with the real promtool: each becomes a recording rule of a temporary rule
// file, and promtool check rules parses them all.
func TestDashboardAndRuleExpressionsParse(t *testing.T) {
	root := promtest.RepoRoot(t)
	exprs := slices.Concat(dashboardExprs(t, root), ruleExprs(t, root))
	require.Greater(t, len(exprs), 50, "suspiciously few expressions")

	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{fmt.Sprintf("deploytest:expr_%d", i+1), e.expr})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "deploytest", "rules": rules}}})
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "expressions.yml")
	require.NoError(t, os.WriteFile(f, data, 0o644))

	out, err := run(t, root, promtest.Tool(t, "promtool"), "check", "rules", f)
	if err != nil {
		// Name the failing expressions by where they come from.
		var failed strings.Builder
		for _, m := range regexp.MustCompile(`"deploytest:expr_(\d+)"`).FindAllStringSubmatch(out, -1) {
			i, _ := strconv.Atoi(m[1])
			e := exprs[i-1]
			fmt.Fprintf(&failed, "deploytest:expr_%d is %s:\n\t%s\n", i, e.where, strings.ReplaceAll(strings.TrimSpace(e.expr), "\n", "\n\t"))
		}
		t.Fatalf("promtool check rules: expressions that do not parse (%v):\n%s\n%s", err, out, failed.String())
	}
	require.Containsf(t, out, fmt.Sprintf("%d rules found", len(exprs)), "promtool check rules:\n%s", out)
}

// TestDashboardAxesAndThresholds: quantile panels use a log axis (a p99 of
// hours next to a p50 of minutes squashes the p50 on a linear one), and the
// burn-rate panel draws a threshold at every burn rate the
// HelpdeskSLAErrorBudgetBurn tiers use.
func TestDashboardAxesAndThresholds(t *testing.T) {
	root := promtest.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	require.NoError(t, err)
	type rawPanel struct {
		ID          int    `json:"id"`
		Type        string `json:"type"`
		Title       string `json:"title"`
		FieldConfig struct {
			Defaults struct {
				Custom struct {
					ScaleDistribution struct {
						Type string `json:"type"`
					} `json:"scaleDistribution"`
					ThresholdsStyle struct {
						Mode string `json:"mode"`
					} `json:"thresholdsStyle"`
				} `json:"custom"`
				Thresholds struct {
					Steps []struct {
						Value *float64 `json:"value"`
					} `json:"steps"`
				} `json:"thresholds"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var burnRates []float64
	for _, r := range alertsByName(t, root)["HelpdeskSLAErrorBudgetBurn"] {
		for _, m := range regexp.MustCompile(`slo:error_budget:ratio > ([0-9.]+)`).FindAllStringSubmatch(r.Expr, -1) {
			f, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			if !slices.Contains(burnRates, f) {
				burnRates = append(burnRates, f)
			}
		}
	}
	require.Len(t, burnRates, 4, "burn rates of HelpdeskSLAErrorBudgetBurn")
	quantile := regexp.MustCompile(`_time_seconds\{|histogram_quantile\(`)
	burnPanels := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			Panels []json.RawMessage `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(data, &d))
		var check func([]json.RawMessage)
		check = func(ps []json.RawMessage) {
			for _, raw := range ps {
				var p rawPanel
				require.NoError(t, json.Unmarshal(raw, &p))
				check(p.Panels)
				if p.Type != "timeseries" {
					continue
				}
				where := fmt.Sprintf("%s: panel %d %q", filepath.Base(f), p.ID, p.Title)
				isQuantile, isBurn := false, false
				for _, tg := range p.Targets {
					isQuantile = isQuantile || quantile.MatchString(tg.Expr)
					isBurn = isBurn || strings.Contains(tg.Expr, "burn_rate") || strings.Contains(tg.Expr, "slo:error_budget:ratio")
				}
				if isQuantile {
					require.Equalf(t, "log", p.FieldConfig.Defaults.Custom.ScaleDistribution.Type, "%s: quantiles on a log axis", where)
				}
				if isBurn {
					burnPanels++
					require.NotEqualf(t, "off", p.FieldConfig.Defaults.Custom.ThresholdsStyle.Mode, "%s: thresholds drawn", where)
					var steps []float64
					for _, s := range p.FieldConfig.Defaults.Thresholds.Steps {
						if s.Value != nil {
							steps = append(steps, *s.Value)
						}
					}
					for _, br := range burnRates {
						require.Containsf(t, steps, br, "%s: no threshold at burn rate %v", where, br)
					}
				}
			}
		}
		check(d.Panels)
	}
	require.Positive(t, burnPanels, "no burn-rate panel")
}
