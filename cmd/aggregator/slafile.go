package main

// The sla: section of the YAML file: one policy in the v1 form, or a list
// of policies (contract section 2, SLA).

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// slaFile is the sla: section: warn_fraction, and either the keys of one
// policy (the v1 form, which is the one "default" policy) or policies.
type slaFile struct {
	WarnFraction *float64 `yaml:"warn_fraction"`
	policyFile   `yaml:",inline"`
	Policies     []policyFile `yaml:"policies"`
}

// policyFile is one policy; every key may be left out and takes its
// default.
type policyFile struct {
	Name  string `yaml:"name"`
	Match *struct {
		Priority []string `yaml:"priority"`
		Team     []string `yaml:"team"`
		Channel  []string `yaml:"channel"`
	} `yaml:"match"`
	FirstReply    targetsFile         `yaml:"first_reply"`
	NextReply     targetsFile         `yaml:"next_reply"`
	Resolution    targetsFile         `yaml:"resolution"`
	PauseOn       map[string][]string `yaml:"pause_on"`
	BusinessHours *businessHoursFile  `yaml:"business_hours"`
}

// targetsFile is a map of priority to duration, or "none": the SLA is
// not measured.
type targetsFile struct {
	set     bool
	none    bool
	targets map[string]string
}

func (t *targetsFile) UnmarshalYAML(n *yaml.Node) error {
	t.set = true
	if n.Kind == yaml.ScalarNode && n.Value == "none" {
		t.none = true
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a map of priority to duration (urgent: 15m) or none, got %s", n.Line, describeNode(n))
	}
	return n.Decode(&t.targets)
}

type businessHoursFile struct {
	Timezone  string   `yaml:"timezone"`
	Monday    []string `yaml:"monday"`
	Tuesday   []string `yaml:"tuesday"`
	Wednesday []string `yaml:"wednesday"`
	Thursday  []string `yaml:"thursday"`
	Friday    []string `yaml:"friday"`
	Saturday  []string `yaml:"saturday"`
	Sunday    []string `yaml:"sunday"`
	Holidays  []string `yaml:"holidays"`
}

func (pf *policyFile) empty() bool {
	return pf.Name == "" && pf.Match == nil && !pf.FirstReply.set && !pf.NextReply.set && !pf.Resolution.set &&
		pf.PauseOn == nil && pf.BusinessHours == nil
}

// apply sets the SLA configuration from the file, keeping defaults for
// what it leaves out.
func (f *slaFile) apply(c *sla.Config) error {
	if f.WarnFraction != nil {
		c.WarnFraction = *f.WarnFraction
	}
	if len(f.Policies) == 0 {
		if f.Name != "" || f.Match != nil {
			return errors.New("sla: name and match belong to an entry of sla.policies; the keys directly under sla describe the one default policy")
		}
		p, err := f.policy("sla", sla.DefaultName)
		if err != nil {
			return err
		}
		c.Policies = []sla.Policy{p}
		return nil
	}
	if !f.empty() {
		return errors.New("sla: with sla.policies, put first_reply, next_reply, resolution, pause_on and business_hours in each policy, not directly under sla")
	}
	c.Policies = nil
	for i := range f.Policies {
		pf := &f.Policies[i]
		where := fmt.Sprintf("sla.policies[%d]", i)
		if pf.Name == "" {
			return fmt.Errorf("%s.name: required, a label value like enterprise", where)
		}
		p, err := pf.policy(where, pf.Name)
		if err != nil {
			return err
		}
		c.Policies = append(c.Policies, p)
	}
	return nil
}

// policy returns the policy the file describes; where is its key in the
// file, for errors.
func (pf *policyFile) policy(where, name string) (sla.Policy, error) {
	p := sla.DefaultPolicy()
	p.Name = name
	if m := pf.Match; m != nil {
		for _, v := range m.Priority {
			pri, ok := events.ParsePriority(v)
			if !ok {
				return p, fmt.Errorf("%s.match.priority: %q: use low, normal, high or urgent", where, v)
			}
			p.Match.Priorities = append(p.Match.Priorities, pri)
		}
		p.Match.Teams, p.Match.Channels = m.Team, m.Channel
	}
	for kind, t := range map[sla.Kind]targetsFile{sla.FirstReply: pf.FirstReply, sla.NextReply: pf.NextReply, sla.Resolution: pf.Resolution} {
		if t.none {
			p.Targets[kind] = [events.NumPriorities]time.Duration{}
			continue
		}
		for pname, text := range t.targets {
			pri, ok := events.ParsePriority(pname)
			if !ok {
				return p, fmt.Errorf("%s.%s.%s: unknown priority; use low, normal, high or urgent", where, kind, pname)
			}
			d, err := parseDuration(text)
			if err == nil && d <= 0 {
				err = errors.New("must be positive; leave the SLA out with none")
			}
			if err != nil {
				return p, fmt.Errorf("%s.%s.%s: %q: %w", where, kind, pname, text, err)
			}
			p.Targets[kind][pri] = d
		}
	}
	for kname, statuses := range pf.PauseOn {
		kind, ok := parseKind(kname)
		if !ok {
			return p, fmt.Errorf("%s.pause_on.%s: unknown SLA; use first_reply, next_reply or resolution", where, kname)
		}
		p.PauseOn[kind] = 0
		for _, st := range statuses {
			s, ok := events.ParseStatus(st)
			if !ok {
				return p, fmt.Errorf("%s.pause_on.%s: %q: use open, pending or on_hold", where, kname, st)
			}
			p.PauseOn[kind] |= sla.StatusesOf(s)
		}
	}
	if pf.BusinessHours != nil {
		cal, err := pf.BusinessHours.calendar(where + ".business_hours")
		if err != nil {
			return p, err
		}
		p.Hours = cal
	}
	return p, nil
}

func parseKind(s string) (sla.Kind, bool) {
	for k := range sla.NumKinds {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// calendar returns the business-hours calendar; where is its key.
func (bh *businessHoursFile) calendar(where string) (*sla.Calendar, error) {
	if bh.Timezone == "" {
		return nil, fmt.Errorf("%s.timezone: required, an IANA zone like Europe/Berlin", where)
	}
	loc, err := time.LoadLocation(bh.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%s.timezone: %q: not an IANA time zone like Europe/Berlin", where, bh.Timezone)
	}
	sched := sla.Schedule{Location: loc}
	for day, ranges := range map[time.Weekday][]string{
		time.Monday: bh.Monday, time.Tuesday: bh.Tuesday, time.Wednesday: bh.Wednesday,
		time.Thursday: bh.Thursday, time.Friday: bh.Friday, time.Saturday: bh.Saturday, time.Sunday: bh.Sunday,
	} {
		for _, r := range ranges {
			iv, err := parseInterval(r)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %q: %w", where, strings.ToLower(day.String()), r, err)
			}
			sched.Week[day] = append(sched.Week[day], iv)
		}
	}
	for _, h := range bh.Holidays {
		d, err := time.Parse(time.DateOnly, h)
		if err != nil {
			return nil, fmt.Errorf("%s.holidays: %q: want a date like 2026-12-25", where, h)
		}
		sched.Holidays = append(sched.Holidays, d)
	}
	cal, err := sla.NewCalendar(sched)
	if err != nil {
		// NewCalendar names the keys of the single policy.
		return nil, errors.New(strings.Replace(err.Error(), "sla.business_hours", where, 1))
	}
	return cal, nil
}
