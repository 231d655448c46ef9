package deploytest

import (
	"bytes"
	"cmp"
	"fmt"
	"github.com/helpdesk-kpi/aggregator/internal/promtest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// compose is the part of the Compose file format that docker-compose.yml
// uses. Unknown keys fail the parse, so that a misspelt key (which Docker
// would reject or, worse, ignore) is caught without Docker.
type compose struct {
	Name             string                    `yaml:"name"`
	XAggregatorImage any                       `yaml:"x-aggregator-image"`
	Services         map[string]composeService `yaml:"services"`
	Volumes          map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Restart         string `yaml:"restart"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

// dependsOn is depends_on in either of its forms: a list of services, or a
// map of service to condition.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, s := range names {
			(*d)[s] = "service_started"
		}
		return nil
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for s, c := range m {
			(*d)[s] = c.Condition
		}
		return nil
	}
	return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
}

// mount is one entry of a service's volumes (short syntax).
type mount struct {
	source string // absolute host path of a bind mount, or a volume name
	target string
	named  bool
}

func (s composeService) mounts(t *testing.T, dir string) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		require.Containsf(t, []int{2, 3}, len(parts), "volume %q: want source:target[:mode]", v)
		m := mount{source: parts[0], target: parts[1]}
		if len(parts) == 3 {
			require.Containsf(t, []string{"ro", "rw"}, parts[2], "volume %q: mode", v)
		}
		if strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
			m.source = filepath.Join(dir, m.source)
		} else {
			m.named = true
		}
		require.Truef(t, path.IsAbs(m.target), "volume %q: the target must be an absolute path", v)
		out = append(out, m)
	}
	return out
}

// hostPath returns the host path that a service sees at the container path
// p, through its bind mounts; "" when p is not under one.
func (s composeService) hostPath(t *testing.T, dir, p string) string {
	t.Helper()
	for _, m := range s.mounts(t, dir) {
		if m.named {
			continue
		}
		if p == m.target {
			return m.source
		}
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(m.target, "/")+"/"); ok {
			return filepath.Join(m.source, filepath.FromSlash(rel))
		}
	}
	return ""
}

// flagValue returns the value of a Go-style or GNU-style flag in args
// ("-name=v", "--name=v", "-name v"), and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		trimmed := strings.TrimLeft(a, "-")
		if trimmed == a {
			continue
		}
		if v, ok := strings.CutPrefix(trimmed, name+"="); ok {
			return v, true
		}
		if trimmed == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func readCompose(t *testing.T, root string) compose {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, composeFile))
	require.NoError(t, err)
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoErrorf(t, dec.Decode(&c), "parse %s", composeFile)
	return c
}

func TestComposeFile(t *testing.T) {
	root := promtest.RepoRoot(t)
	c := readCompose(t, root)
	dir := filepath.Join(root, filepath.Dir(composeFile))
	where := func(svc string) string { return composeFile + ": service " + svc }

	// The stack runs by default; the simulator only with --profile demo.
	for _, name := range []string{"nats", "aggregator", "prometheus", "alertmanager", "grafana"} {
		require.Containsf(t, c.Services, name, "%s: no service %s", composeFile, name)
		require.Emptyf(t, c.Services[name].Profiles, "%s: must start without a profile", where(name))
	}
	require.Contains(t, c.Services, "simulator", "%s: no service simulator", composeFile)
	require.Equal(t, []string{"demo"}, c.Services["simulator"].Profiles, "%s: profiles", where("simulator"))

	t.Run("every service", func(t *testing.T) {
		used := map[string]bool{}
		for name, s := range c.Services {
			require.NotEmptyf(t, s.Image, "%s: no image", where(name))
			if s.Build != nil {
				ctx := filepath.Join(dir, s.Build.Context)
				df := cmp.Or(s.Build.Dockerfile, "Dockerfile")
				require.FileExistsf(t, filepath.Join(ctx, df), "%s: build context %s has no %s", where(name), s.Build.Context, df)
			}
			for _, m := range s.mounts(t, dir) {
				if m.named {
					require.Containsf(t, c.Volumes, m.source, "%s: volume %s is not declared under volumes:", where(name), m.source)
					used[m.source] = true
					continue
				}
				_, err := os.Stat(m.source)
				require.NoErrorf(t, err, "%s: mounts %s, which does not exist", where(name), m.source)
			}
			for dep, cond := range s.DependsOn {
				require.Containsf(t, c.Services, dep, "%s: depends on unknown service %s", where(name), dep)
				require.Containsf(t, []string{"service_started", "service_healthy", "service_completed_successfully"}, cond, "%s: depends_on %s condition", where(name), dep)
				if cond == "service_healthy" {
					require.NotNilf(t, c.Services[dep].Healthcheck, "%s: waits for %s to be healthy, which has no healthcheck", where(name), dep)
				}
				// A service that starts by default cannot wait for one
				// that only starts with a profile.
				for _, p := range c.Services[dep].Profiles {
					require.Containsf(t, s.Profiles, p, "%s: depends on %s, which needs profile %s", where(name), dep, p)
				}
			}
			for _, p := range s.Ports {
				require.Truef(t, strings.HasPrefix(p, "127.0.0.1:"), "%s: port %s: publish on 127.0.0.1 only (NATS has no authentication here)", where(name), p)
			}
		}
		for v := range c.Volumes {
			require.Truef(t, used[v], "%s: volume %s is declared but not used", composeFile, v)
		}
	})

	t.Run("nats", func(t *testing.T) {
		s := c.Services["nats"]
		require.Truef(t, strings.HasPrefix(s.Image, "nats:"), "%s: want the official nats image, got %s", where("nats"), s.Image)
		require.Truef(t, slices.Contains(s.Command, "--jetstream") || slices.Contains(s.Command, "-js"), "%s: JetStream is off (no --jetstream)", where("nats"))
		store, ok := flagValue(s.Command, "store_dir")
		require.Truef(t, ok, "%s: no --store_dir", where("nats"))
		require.Truef(t, slices.ContainsFunc(s.mounts(t, dir), func(m mount) bool { return m.named && m.target == store }),
			"%s: the JetStream store %s is not on a named volume", where("nats"), store)
	})

	t.Run("aggregator and simulator", func(t *testing.T) {
		agg, sim := c.Services["aggregator"], c.Services["simulator"]
		require.NotNil(t, agg.Build, "%s: must be built from the repository", where("aggregator"))
		require.Equal(t, filepath.Join(root, dockerfile), filepath.Join(dir, agg.Build.Context, cmp.Or(agg.Build.Dockerfile, "Dockerfile")))
		require.Equalf(t, agg.Image, sim.Image, "%s: the simulator runs the aggregator's image", where("simulator"))

		url, _ := flagValue(agg.Command, "nats-url")
		require.Equal(t, "nats://nats:4222", url, "%s: -nats-url", where("aggregator"))
		cfg, ok := flagValue(agg.Command, "config")
		require.Truef(t, ok, "%s: no -config", where("aggregator"))
		host := agg.hostPath(t, dir, cfg)
		require.Equalf(t, filepath.Join(root, aggregatorConfig), host, "%s: -config %s is not %s mounted", where("aggregator"), cfg, aggregatorConfig)
		require.Contains(t, agg.Ports, "127.0.0.1:9478:9478")

		require.NotEmpty(t, sim.Command)
		require.Equal(t, "simulate", sim.Command[0], "%s: command", where("simulator"))
		url, _ = flagValue(sim.Command, "nats-url")
		require.Equal(t, "nats://nats:4222", url, "%s: -nats-url", where("simulator"))
		_, ok = flagValue(sim.Command, "tickets-per-hour")
		require.Truef(t, ok, "%s: no -tickets-per-hour", where("simulator"))
	})

	t.Run("prometheus", func(t *testing.T) {
		s := c.Services["prometheus"]
		cfgPath, ok := flagValue(s.Command, "config.file")
		require.Truef(t, ok, "%s: no --config.file", where("prometheus"))
		require.Equal(t, filepath.Join(root, composePromConfig), s.hostPath(t, dir, cfgPath), "%s: --config.file", where("prometheus"))

		var pc struct {
			RuleFiles []string `yaml:"rule_files"`
			Alerting  struct {
				Alertmanagers []struct {
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
				} `yaml:"alertmanagers"`
			} `yaml:"alerting"`
			ScrapeConfigs []struct {
				JobName       string `yaml:"job_name"`
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		promtest.ReadYAML(t, filepath.Join(root, composePromConfig), &pc)

		// Rule files are relative to the configuration file, in the container.
		var loaded []string
		for _, rf := range pc.RuleFiles {
			p := rf
			if !path.IsAbs(p) {
				p = path.Join(path.Dir(cfgPath), rf)
			}
			host := s.hostPath(t, dir, p)
			require.NotEmptyf(t, host, "%s: rule file %s is not mounted into the prometheus service", composePromConfig, rf)
			require.FileExists(t, host)
			loaded = append(loaded, host)
		}
		require.Containsf(t, loaded, filepath.Join(root, rulesFile), "%s does not load %s", composePromConfig, rulesFile)

		var scraped []string
		for _, sc := range pc.ScrapeConfigs {
			if sc.JobName == job {
				for _, st := range sc.StaticConfigs {
					scraped = append(scraped, st.Targets...)
				}
			}
		}
		require.Equalf(t, []string{"aggregator:9478"}, scraped, "%s: targets of job %s (the rules select this job)", composePromConfig, job)
		var ams []string
		for _, am := range pc.Alerting.Alertmanagers {
			for _, st := range am.StaticConfigs {
				ams = append(ams, st.Targets...)
			}
		}
		require.Equal(t, []string{"alertmanager:9093"}, ams, "%s: alertmanagers", composePromConfig)
	})

	t.Run("alertmanager", func(t *testing.T) {
		s := c.Services["alertmanager"]
		cfgPath, ok := flagValue(s.Command, "config.file")
		require.Truef(t, ok, "%s: no --config.file", where("alertmanager"))
		require.Equal(t, filepath.Join(root, "deploy/alertmanager/alertmanager.yml"), s.hostPath(t, dir, cfgPath), "%s: --config.file", where("alertmanager"))
	})

	t.Run("grafana", func(t *testing.T) {
		s := c.Services["grafana"]
		// Grafana reads provisioning files from these directories.
		for _, f := range []string{grafanaDatasources, grafanaProviders} {
			in := "/etc/grafana/provisioning/" + filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
			require.Equalf(t, filepath.Join(root, f), s.hostPath(t, dir, in), "%s: %s is not mounted at %s", where("grafana"), f, in)
		}

		var providers struct {
			APIVersion int `yaml:"apiVersion"`
			Providers  []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		promtest.ReadYAML(t, filepath.Join(root, grafanaProviders), &providers)
		require.Equal(t, 1, providers.APIVersion)
		require.Len(t, providers.Providers, 1)
		require.Equal(t, "file", providers.Providers[0].Type)
		require.Equalf(t, filepath.Join(root, dashboardsDir), s.hostPath(t, dir, providers.Providers[0].Options.Path),
			"%s: the provider's path %s is not %s mounted", grafanaProviders, providers.Providers[0].Options.Path, dashboardsDir)

		var ds struct {
			APIVersion  int `yaml:"apiVersion"`
			Datasources []struct {
				Name      string `yaml:"name"`
				UID       string `yaml:"uid"`
				Type      string `yaml:"type"`
				URL       string `yaml:"url"`
				IsDefault bool   `yaml:"isDefault"`
			} `yaml:"datasources"`
		}
		promtest.ReadYAML(t, filepath.Join(root, grafanaDatasources), &ds)
		require.Equal(t, 1, ds.APIVersion)
		require.Len(t, ds.Datasources, 1)
		require.Equal(t, "prometheus", ds.Datasources[0].Type)
		require.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL)
		require.True(t, ds.Datasources[0].IsDefault, "the dashboards' ${datasource} defaults to the default datasource")
		require.NotEmpty(t, ds.Datasources[0].UID)

		home := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		require.NotEmpty(t, home)
		require.FileExists(t, s.hostPath(t, dir, home), "%s: the home dashboard", where("grafana"))
	})
}
