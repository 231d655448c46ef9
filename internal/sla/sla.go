// Package sla holds service level policies: which policy a ticket falls
// under (the first whose match it meets), the target per SLA and priority,
// the statuses that pause each SLA's clock, the warning fraction, and the
// clock that targets run on: calendar time, or business hours of a weekly
// schedule with holidays in one time zone.
//
// It computes deadlines and elapsed times; it does not track tickets
// (package kpi does). Like the window code it is pure: it never reads the
// clock.
package sla

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// Kind is which target a clock measures.
type Kind uint8

// The SLAs of the contract. The order keeps the v1 kinds first.
const (
	FirstReply Kind = iota // opening → first reply (or a resolution that comes first)
	Resolution             // opening or reopening → the next resolution
	NextReply              // a customer message that starts a wait → the reply that ends it
	NumKinds
)

// String returns the label value of k: "first_reply", "resolution" or
// "next_reply".
func (k Kind) String() string {
	switch k {
	case FirstReply:
		return "first_reply"
	case Resolution:
		return "resolution"
	}
	return "next_reply"
}

// Statuses is a set of ticket statuses, one bit per events.Status.
type Statuses uint8

// StatusesOf returns the set of the given statuses.
func StatusesOf(ss ...events.Status) Statuses {
	var set Statuses
	for _, s := range ss {
		set |= 1 << s
	}
	return set
}

// Has reports whether st is in the set.
func (set Statuses) Has(st events.Status) bool { return set&(1<<st) != 0 }

// Match selects the tickets a policy applies to: every non-empty list must
// hold the ticket's value. Teams and channels are compared as label
// values (after the allow-lists).
type Match struct {
	Priorities []events.Priority
	Teams      []string
	Channels   []string
}

// Empty reports whether m matches every ticket.
func (m *Match) Empty() bool { return len(m.Priorities)+len(m.Teams)+len(m.Channels) == 0 }

// Matches reports whether a ticket with these labels meets m.
func (m *Match) Matches(pri events.Priority, team, channel string) bool {
	return (len(m.Priorities) == 0 || slices.Contains(m.Priorities, pri)) &&
		(len(m.Teams) == 0 || slices.Contains(m.Teams, team)) &&
		(len(m.Channels) == 0 || slices.Contains(m.Channels, channel))
}

// Policy is one SLA policy.
type Policy struct {
	Name  string
	Match Match
	// Targets is the allowed time per kind and priority (indexed by
	// events.Priority); 0 means the SLA is not measured.
	Targets [NumKinds][events.NumPriorities]time.Duration
	// PauseOn is, per kind, the statuses in which its clock stands still.
	PauseOn [NumKinds]Statuses
	// Hours is the business-hours calendar targets run on; nil means
	// calendar time.
	Hours *Calendar
}

// Config is the SLA configuration: the policies, first match wins.
type Config struct {
	// WarnFraction is the share of the allowed time after which an
	// open ticket is at risk.
	WarnFraction float64
	Policies     []Policy
}

// DefaultName is the name of the policy of a configuration without
// policies.
const DefaultName = "default"

// DefaultPolicy returns the contract's default policy: first reply urgent
// 15m, high 1h, normal 4h, low 8h; next reply urgent 1h, high 2h, normal
// 8h, low 24h; resolution urgent 4h, high 8h, normal 24h, low 72h;
// resolution paused while pending or on hold; calendar time.
func DefaultPolicy() Policy {
	p := Policy{Name: DefaultName}
	set := func(k Kind, urgent, high, normal, low time.Duration) {
		p.Targets[k][events.PriorityUrgent] = urgent
		p.Targets[k][events.PriorityHigh] = high
		p.Targets[k][events.PriorityNormal] = normal
		p.Targets[k][events.PriorityLow] = low
	}
	set(FirstReply, 15*time.Minute, time.Hour, 4*time.Hour, 8*time.Hour)
	set(NextReply, time.Hour, 2*time.Hour, 8*time.Hour, 24*time.Hour)
	set(Resolution, 4*time.Hour, 8*time.Hour, 24*time.Hour, 72*time.Hour)
	p.PauseOn[Resolution] = StatusesOf(events.StatusPending, events.StatusOnHold)
	return p
}

// DefaultConfig returns the one default policy, warning at 80%.
func DefaultConfig() Config {
	return Config{WarnFraction: 0.8, Policies: []Policy{DefaultPolicy()}}
}

// MaxPolicies bounds the policies, which are a label dimension.
const MaxPolicies = 50

// Validate checks the policies and the warning fraction; errors name the
// configuration key.
func (c *Config) Validate() error {
	var errs []error
	if !(c.WarnFraction > 0 && c.WarnFraction < 1) {
		errs = append(errs, fmt.Errorf("sla.warn_fraction: %v: must be between 0 and 1 (exclusive)", c.WarnFraction))
	}
	if len(c.Policies) == 0 {
		errs = append(errs, errors.New("sla.policies: at least one policy is needed"))
	}
	if len(c.Policies) > MaxPolicies {
		errs = append(errs, fmt.Errorf("sla.policies: %d policies: at most %d", len(c.Policies), MaxPolicies))
	}
	seen := map[string]bool{}
	for i, p := range c.Policies {
		where := fmt.Sprintf("sla.policies[%d]", i)
		if len(c.Policies) == 1 && p.Name == DefaultName {
			where = "sla"
		}
		switch {
		case p.Name == "" || p.Name == "all" || p.Name == "other" || p.Name == "unknown":
			errs = append(errs, fmt.Errorf("%s.name: %q: must be non-empty and not all, other or unknown", where, p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q appears twice", where, p.Name))
		}
		seen[p.Name] = true
		for k := range NumKinds {
			for pri := range events.Priority(events.NumPriorities) {
				if p.Targets[k][pri] < 0 {
					errs = append(errs, fmt.Errorf("%s.%s.%s: %v: must be positive (or the SLA none)", where, k, pri, p.Targets[k][pri]))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Select returns the index of the first policy that matches a ticket with
// these labels, or -1 when none does.
func (c *Config) Select(pri events.Priority, team, channel string) int {
	for i := range c.Policies {
		if c.Policies[i].Match.Matches(pri, team, channel) {
			return i
		}
	}
	return -1
}

// Deadline returns the instant at which d of the policy's time (calendar
// or business) has passed since start (Unix ns).
func (p *Policy) Deadline(start int64, d time.Duration) int64 {
	if p.Hours == nil {
		return start + int64(d)
	}
	return p.Hours.Add(time.Unix(0, start), d).UnixNano()
}

// Elapsed returns how much of the policy's time passes from a to b (Unix
// ns, a ≤ b).
func (p *Policy) Elapsed(a, b int64) time.Duration {
	if b <= a {
		return 0
	}
	if p.Hours == nil {
		return time.Duration(b - a)
	}
	return p.Hours.Between(time.Unix(0, a), time.Unix(0, b))
}
