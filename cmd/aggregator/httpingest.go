package main

// HTTP ingest (contract section 4, v2): the -ingest-token-file flag and
// the ingest: section of the YAML file, read into an httpingest.Config.

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/helpdesk-kpi/aggregator/internal/httpingest"
	"github.com/helpdesk-kpi/aggregator/internal/webhook"
)

// HTTPIngest is where the secrets of HTTP ingest are, and the label
// tables of the webhooks. The files are read at start.
type HTTPIngest struct {
	// TokenFile names a file of bearer tokens for POST /api/v1/events,
	// one a line; empty turns the endpoint off.
	TokenFile string
	// Webhooks holds the sources that are on, by name.
	Webhooks map[string]WebhookFile
	// MaxBodyBytes is the largest request body after decompression
	// (0: httpingest's default).
	MaxBodyBytes int64
}

// WebhookFile is one webhook source of the YAML file.
type WebhookFile struct {
	SecretFile string            `yaml:"secret_file"`
	Channels   map[string]string `yaml:"channels"`
	Priorities map[string]string `yaml:"priorities"`
	Statuses   map[string]string `yaml:"statuses"`
}

// ingestFile is the ingest: section of the YAML file.
type ingestFile struct {
	TokenFile    string                 `yaml:"token_file"`
	MaxBodyBytes *int64                 `yaml:"max_body_bytes"`
	Webhooks     map[string]WebhookFile `yaml:"webhooks"`
}

func (f *ingestFile) apply(c *HTTPIngest) error {
	if f.TokenFile != "" {
		c.TokenFile = f.TokenFile
	}
	if f.MaxBodyBytes != nil {
		if *f.MaxBodyBytes < 1024 {
			return fmt.Errorf("ingest.max_body_bytes: %d: must be at least 1024", *f.MaxBodyBytes)
		}
		c.MaxBodyBytes = *f.MaxBodyBytes
	}
	known := map[string]bool{}
	for _, s := range webhook.All() {
		known[s.Name()] = true
	}
	for name, w := range f.Webhooks {
		if !known[name] {
			return fmt.Errorf("ingest.webhooks.%s: unknown source; use zendesk, chatwoot, zammad, jira or freshdesk", name)
		}
		if w.SecretFile == "" {
			return fmt.Errorf("ingest.webhooks.%s.secret_file: required: the file holding the %s signing secret or shared token", name, name)
		}
		for key, m := range map[string]map[string]string{"priorities": w.Priorities, "statuses": w.Statuses} {
			for from, to := range m {
				if !allowedLabel(key, to) {
					return fmt.Errorf("ingest.webhooks.%s.%s.%s: %q: use %s", name, key, from, to, allowedText(key))
				}
			}
		}
		if c.Webhooks == nil {
			c.Webhooks = map[string]WebhookFile{}
		}
		c.Webhooks[name] = w
	}
	return nil
}

func allowedLabel(key, v string) bool {
	switch key {
	case "priorities":
		return v == "low" || v == "normal" || v == "high" || v == "urgent"
	case "statuses":
		return v == "open" || v == "pending" || v == "on_hold" || v == webhook.StatusResolved
	}
	return true
}

func allowedText(key string) string {
	if key == "priorities" {
		return "low, normal, high or urgent"
	}
	return "open, pending, on_hold or resolved"
}

// httpIngestConfig reads the token and secret files into an
// httpingest.Config; errors name the file and the setting.
func httpIngestConfig(c HTTPIngest, cfg Config) (httpingest.Config, error) {
	out := httpingest.Config{
		MaxBody:           c.MaxBodyBytes,
		DeadLetterSubject: cfg.Ingest.DeadLetterSubject,
		MaxClockSkew:      cfg.KPI.MaxClockSkew,
		SubjectPrefix:     subjectPrefix(cfg.Ingest.Subjects),
	}
	if c.TokenFile != "" {
		raw, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return out, fmt.Errorf("-ingest-token-file: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				out.Tokens = append(out.Tokens, []byte(line))
			}
		}
		if len(out.Tokens) == 0 {
			return out, fmt.Errorf("-ingest-token-file %s: no token in it (one a line; lines starting with # are comments)", c.TokenFile)
		}
	}
	for _, src := range webhook.All() {
		w, on := c.Webhooks[src.Name()]
		if !on {
			continue
		}
		raw, err := os.ReadFile(w.SecretFile)
		if err != nil {
			return out, fmt.Errorf("ingest.webhooks.%s.secret_file: %w", src.Name(), err)
		}
		secret := bytes.TrimSpace(raw)
		if len(secret) == 0 {
			return out, fmt.Errorf("ingest.webhooks.%s.secret_file %s: empty", src.Name(), w.SecretFile)
		}
		labels := src.Labels()
		labels.Channels = overlay(labels.Channels, w.Channels)
		labels.Priorities = overlay(labels.Priorities, w.Priorities)
		labels.Statuses = overlay(labels.Statuses, w.Statuses)
		if out.Webhooks == nil {
			out.Webhooks = map[string]httpingest.Webhook{}
		}
		out.Webhooks[src.Name()] = httpingest.Webhook{Source: src, Secret: secret, Labels: labels}
	}
	return out, nil
}

// overlay returns defaults with the entries of m (keys lower-cased) put
// over them.
func overlay(defaults, m map[string]string) map[string]string {
	out := maps.Clone(defaults)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// subjectPrefix returns where HTTP ingest publishes: the first stream
// subject without its trailing ">", helpdesk.events. by default.
func subjectPrefix(subjects []string) string {
	for _, s := range subjects {
		if p, ok := strings.CutSuffix(s, ">"); ok && strings.HasSuffix(p, ".") {
			return p
		}
	}
	return "helpdesk.events."
}
