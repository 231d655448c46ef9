package main

// The YAML configuration file (-config), into a Config.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// fileConfig is the YAML file's shape. Absent fields keep their defaults.
type fileConfig struct {
	Windows        []string   `yaml:"windows"`
	Quantiles      []float64  `yaml:"quantiles"`
	Channels       []string   `yaml:"channels"`
	Teams          []string   `yaml:"teams"`
	MaxTeams       *int       `yaml:"max_teams"`
	Agents         []string   `yaml:"agents"`
	MaxAgents      *int       `yaml:"max_agents"`
	HoldFor        string     `yaml:"hold_for"`
	RetainResolved string     `yaml:"retain_resolved"`
	RetainIDs      string     `yaml:"retain_ids"`
	MaxClockSkew   string     `yaml:"max_clock_skew"`
	MaxTracked     *int       `yaml:"max_tracked_tickets"`
	MaxHeld        *int       `yaml:"max_held_events"`
	MaxIDs         *int       `yaml:"max_ticketless_ids"`
	SLA            slaFile    `yaml:"sla"`
	HTTPIngest     ingestFile `yaml:"ingest"`
	Stream         struct {
		Name              string   `yaml:"name"`
		Subjects          []string `yaml:"subjects"`
		Create            *bool    `yaml:"create"`
		MaxAge            string   `yaml:"max_age"`
		DeadLetterSubject string   `yaml:"dead_letter_subject"`
	} `yaml:"stream"`
}

// parseInterval reads "09:00-18:00" (24:00 may end a day).
func parseInterval(s string) (sla.Interval, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return sla.Interval{}, fmt.Errorf("want a range like 09:00-18:00")
	}
	clock := func(t string) (int, error) {
		h, m, ok := strings.Cut(strings.TrimSpace(t), ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
			return 0, fmt.Errorf("want a range like 09:00-18:00")
		}
		return hh*60 + mm, nil
	}
	a, err := clock(from)
	if err != nil {
		return sla.Interval{}, err
	}
	b, err := clock(to)
	if err != nil {
		return sla.Interval{}, err
	}
	return sla.Interval{Start: a, End: b}, nil
}

func applyYAML(cfg *Config, data []byte) error {
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if f.Windows != nil {
		cfg.KPI.Windows = nil
		for _, w := range f.Windows {
			d, err := parseDuration(w)
			if err != nil {
				return fmt.Errorf("windows: %q: %w", w, err)
			}
			cfg.KPI.Windows = append(cfg.KPI.Windows, kpi.Window{Name: w, Width: d})
		}
	}
	if f.Quantiles != nil {
		cfg.KPI.Quantiles = f.Quantiles
	}
	if f.Channels != nil {
		cfg.KPI.Channels = f.Channels
	}
	if len(f.Teams) > 0 {
		cfg.KPI.Teams = f.Teams
	}
	if f.MaxTeams != nil {
		cfg.KPI.MaxTeams = *f.MaxTeams
	}
	if len(f.Agents) > 0 {
		cfg.KPI.Agents = f.Agents
	}
	if f.MaxAgents != nil {
		cfg.KPI.MaxAgents = *f.MaxAgents
	}
	if f.MaxTracked != nil {
		cfg.KPI.MaxTracked = *f.MaxTracked
	}
	if f.MaxIDs != nil {
		cfg.KPI.MaxTicketlessIDs = *f.MaxIDs
	}
	if f.MaxHeld != nil {
		cfg.KPI.MaxHeld = *f.MaxHeld
	}
	for _, d := range []struct {
		field string
		text  string
		dst   *time.Duration
	}{
		{"hold_for", f.HoldFor, &cfg.KPI.HoldFor},
		{"retain_resolved", f.RetainResolved, &cfg.KPI.RetainResolved},
		{"retain_ids", f.RetainIDs, &cfg.KPI.RetainIDs},
		{"max_clock_skew", f.MaxClockSkew, &cfg.KPI.MaxClockSkew},
		{"stream.max_age", f.Stream.MaxAge, &cfg.Ingest.MaxAge},
	} {
		if d.text == "" {
			continue
		}
		v, err := parseDuration(d.text)
		if err != nil {
			return fmt.Errorf("%s: %q: %w", d.field, d.text, err)
		}
		*d.dst = v
	}
	if err := f.SLA.apply(&cfg.KPI.SLA); err != nil {
		return err
	}
	if err := f.HTTPIngest.apply(&cfg.HTTPIngest); err != nil {
		return err
	}
	if f.Stream.Name != "" {
		cfg.Ingest.Stream = f.Stream.Name
	}
	if f.Stream.Subjects != nil {
		cfg.Ingest.Subjects = f.Stream.Subjects
	}
	if f.Stream.Create != nil {
		cfg.Ingest.CreateStream = *f.Stream.Create
	}
	if f.Stream.DeadLetterSubject != "" {
		cfg.Ingest.DeadLetterSubject = f.Stream.DeadLetterSubject
	}
	return nil
}

// parseDuration is time.ParseDuration plus whole days ("7d") and weeks
// ("2w"), the units helpdesk windows are spoken in.
func parseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0, fmt.Errorf("want a whole number of %s, like 7d or 2w, or a Go duration like 90m", suffix)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 15m, 1h, 7d")
	}
	return d, nil
}
