package deploytest

import (
	"fmt"
	"github.com/helpdesk-kpi/aggregator/internal/promtest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// object is the envelope of a Kubernetes object.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type deployment struct {
	object `yaml:",inline"`
	Spec   struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []struct {
					Name  string   `yaml:"name"`
					Image string   `yaml:"image"`
					Args  []string `yaml:"args"`
					Env   []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					LivenessProbe   probe `yaml:"livenessProbe"`
					ReadinessProbe  probe `yaml:"readinessProbe"`
					SecurityContext struct {
						RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
						ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
						AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
						Capabilities             struct {
							Drop []string `yaml:"drop"`
						} `yaml:"capabilities"`
					} `yaml:"securityContext"`
					Resources struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []map[string]any `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	object `yaml:",inline"`
	Spec   struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	object `yaml:",inline"`
	Spec   struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type configMap struct {
	object `yaml:",inline"`
	Data   map[string]string `yaml:"data"`
}

// readObject parses a one-object manifest and checks its kind.
func readObject(t *testing.T, root, name, apiVersion, kind string, v any) {
	t.Helper()
	path := filepath.Join(root, k8sDir, name)
	promtest.ReadYAML(t, path, v)
	var o object
	promtest.ReadYAML(t, path, &o)
	require.Equalf(t, apiVersion, o.APIVersion, "%s: apiVersion", name)
	require.Equalf(t, kind, o.Kind, "%s: kind", name)
	require.NotEmptyf(t, o.Metadata.Name, "%s: metadata.name", name)
}

// subset reports whether every entry of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func TestDeployKubernetes(t *testing.T) {
	root := promtest.RepoRoot(t)

	// kubectl apply -k deploy/k8s applies every manifest.
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	promtest.ReadYAML(t, filepath.Join(root, k8sDir, "kustomization.yaml"), &kust)
	entries, err := os.ReadDir(filepath.Join(root, k8sDir))
	require.NoError(t, err)
	var manifests []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			manifests = append(manifests, e.Name())
		}
	}
	require.ElementsMatch(t, manifests, kust.Resources, "%s/kustomization.yaml: resources must list every manifest", k8sDir)

	var dep deployment
	readObject(t, root, "deployment.yaml", "apps/v1", "Deployment", &dep)
	var svc service
	readObject(t, root, "service.yaml", "v1", "Service", &svc)
	var sm serviceMonitor
	readObject(t, root, "servicemonitor.yaml", "monitoring.coreos.com/v1", "ServiceMonitor", &sm)
	var cm configMap
	readObject(t, root, "configmap.yaml", "v1", "ConfigMap", &cm)
	var pr object
	readObject(t, root, "prometheusrule.yaml", "monitoring.coreos.com/v1", "PrometheusRule", &pr)

	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	t.Run("deployment", func(t *testing.T) {
		require.Equal(t, 1, dep.Spec.Replicas)
		require.Truef(t, subset(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels), "the selector does not match the pod labels")

		// Non-root, read-only, no privileges.
		nonRoot := pod.SecurityContext.RunAsNonRoot
		if c.SecurityContext.RunAsNonRoot != nil {
			nonRoot = c.SecurityContext.RunAsNonRoot
		}
		require.True(t, nonRoot != nil && *nonRoot, "runAsNonRoot")
		require.True(t, pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser != 0, "runAsUser 0")
		require.True(t, c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
		require.True(t, c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
		require.Contains(t, c.SecurityContext.Capabilities.Drop, "ALL")

		require.NotEmpty(t, c.Resources.Requests["cpu"], "resources.requests.cpu")
		require.NotEmpty(t, c.Resources.Requests["memory"], "resources.requests.memory")
		require.NotEmpty(t, c.Resources.Limits["memory"], "resources.limits.memory")

		// Probes on the named HTTP port.
		require.Len(t, c.Ports, 1)
		require.Equal(t, "http-metrics", c.Ports[0].Name)
		require.Equal(t, 9478, c.Ports[0].ContainerPort)
		for name, p := range map[string]probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
			require.NotNilf(t, p.HTTPGet, "%s: want httpGet", name)
			require.Truef(t, p.HTTPGet.Port == "http-metrics" || p.HTTPGet.Port == 9478, "%s: port %v", name, p.HTTPGet.Port)
		}
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
		require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

		// Snapshots in the object store: no volume but the configuration.
		store, _ := flagValue(c.Args, "snapshot-store")
		require.Equal(t, "objectstore", store, "args: -snapshot-store")
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		require.Contains(t, env["AGGREGATOR_NATS_URL"], "nats://", "env AGGREGATOR_NATS_URL")
		require.Len(t, pod.Volumes, 1, "only the configuration is mounted")
		vol := pod.Volumes[0]
		require.Contains(t, vol, "configMap")
		require.Equal(t, cm.Metadata.Name, vol["configMap"].(map[string]any)["name"], "the volume's ConfigMap")

		// -config names the file the ConfigMap provides.
		cfgPath, ok := flagValue(c.Args, "config")
		require.True(t, ok, "args: -config")
		require.Len(t, c.VolumeMounts, 1)
		require.Equal(t, vol["name"], c.VolumeMounts[0].Name)
		dir, key := filepath.Split(cfgPath)
		require.Equal(t, strings.TrimSuffix(c.VolumeMounts[0].MountPath, "/")+"/", dir, "-config is not in the ConfigMap's mount")
		require.Contains(t, cm.Data, key, "-config %s: the ConfigMap has no key %s", cfgPath, key)
	})

	t.Run("service and monitor", func(t *testing.T) {
		require.Len(t, svc.Spec.Ports, 1)
		p := svc.Spec.Ports[0]
		require.Equal(t, "http-metrics", p.Name)
		require.Equal(t, 9478, p.Port)
		require.Truef(t, p.TargetPort == "http-metrics" || p.TargetPort == 9478, "targetPort %v", p.TargetPort)
		require.Truef(t, subset(svc.Spec.Selector, dep.Spec.Template.Metadata.Labels), "the Service's selector does not match the pods")

		// The job label of the targets is the Service's name, and the
		// alert rules select job="helpdesk-kpi-aggregator".
		require.Equal(t, job, svc.Metadata.Name, "Service name (the job label)")
		require.Truef(t, subset(sm.Spec.Selector.MatchLabels, svc.Metadata.Labels), "the ServiceMonitor does not select the Service")
		require.Len(t, sm.Spec.Endpoints, 1)
		require.Equal(t, "http-metrics", sm.Spec.Endpoints[0].Port)
	})

	t.Run("configmap", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(root, aggregatorConfig))
		require.NoError(t, err)
		require.Equalf(t, string(src), cm.Data["aggregator.yaml"],
			"%s is out of date with %s: run %s", configMapFile, aggregatorConfig, regenerate)
	})
}

// TestPrometheusRuleIsGenerated regenerates the manifests that copy other
// files and compares them with the checked-in ones.
func TestPrometheusRuleIsGenerated(t *testing.T) {
	root := promtest.RepoRoot(t)
	for _, out := range []struct{ file, source string }{
		{prometheusRuleFile, rulesFile},
		{configMapFile, aggregatorConfig},
	} {
		t.Run(filepath.Base(out.file), func(t *testing.T) {
			want, err := generated(t, root, out.file)
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(root, out.file))
			require.NoError(t, err)
			if string(got) != want {
				t.Fatalf("%s is out of date with %s (%s); regenerate it with\n\n\t%s\n\nand commit both",
					out.file, out.source, firstDifference(want, string(got)), regenerate)
			}
		})
	}

	// The PrometheusRule holds exactly the groups of the rule file, and
	// promtool accepts them.
	t.Run("same rules", func(t *testing.T) {
		var src struct {
			Groups any `yaml:"groups"`
		}
		promtest.ReadYAML(t, filepath.Join(root, rulesFile), &src)
		var pr struct {
			Spec struct {
				Groups any `yaml:"groups"`
			} `yaml:"spec"`
		}
		promtest.ReadYAML(t, filepath.Join(root, prometheusRuleFile), &pr)
		if !reflect.DeepEqual(src.Groups, pr.Spec.Groups) {
			t.Fatalf("the groups in %s differ from those in %s: run %s", prometheusRuleFile, rulesFile, regenerate)
		}

		spec, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
		require.NoError(t, err)
		f := filepath.Join(t.TempDir(), "prometheusrule-spec.yml")
		require.NoError(t, os.WriteFile(f, spec, 0o644))
		out, err := run(t, root, promtest.Tool(t, "promtool"), "check", "rules", "--lint-fatal", f)
		require.NoErrorf(t, err, "promtool check rules on the spec of %s:\n%s", prometheusRuleFile, out)
	})
}

// generated runs the generator and returns what it would write to file.
func generated(t *testing.T, root, file string) (string, error) {
	t.Helper()
	args := []string{"run", "./cmd/genrules", "-print", file}
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// firstDifference describes the first line where a and b differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		wl, gl := "", ""
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("first difference at line %d: generated %q, checked in %q", i+1, wl, gl)
		}
	}
	return "they differ"
}
