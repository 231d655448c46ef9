package kpi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Window names one sliding window: Name is its label value ("1h"), Width
// its length.
type Window struct {
	Name  string
	Width time.Duration
}

// Config holds what the state needs to know; see contract sections 1–3.
type Config struct {
	Windows   []Window
	Quantiles []float64 // ascending, each in (0, 1]
	// Channels is the channel allow-list; other values count as "other".
	Channels []string
	// Teams is the team allow-list. When empty, the first MaxTeams
	// distinct teams in stream order are admitted.
	Teams    []string
	MaxTeams int
	// Agents is the agent allow-list of the per-agent series; without
	// one, the first MaxAgents distinct agent ids in stream order are
	// admitted. Both empty or 0: no per-agent series.
	Agents    []string
	MaxAgents int
	// HoldFor is how long a reply, resolution or reopening waits for its
	// ticket's opening, measured on the newest event time seen.
	HoldFor time.Duration
	// RetainResolved is how long a resolved ticket stays tracked.
	RetainResolved time.Duration
	// RetainIDs is how long ids of events without a tracked ticket are
	// remembered for de-duplication.
	RetainIDs time.Duration
	// MaxClockSkew is how far ahead of now an event may lie.
	MaxClockSkew time.Duration
	// SLA is the SLA policies and warning fraction.
	SLA sla.Config
	// MaxTracked bounds the tickets in memory: past it, the oldest
	// opened are forgotten (counted in View.Evicted).
	MaxTracked int
	// MaxHeld bounds the events waiting for their ticket's opening: past
	// it, the oldest are applied without their opening, as orphans.
	MaxHeld int
	// MaxTicketlessIDs bounds the remembered ids of events applied
	// without a ticket (surveys without one, orphans): past it, the
	// oldest are forgotten, and a re-send of such an event within
	// RetainIDs would count again.
	MaxTicketlessIDs int
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Windows: []Window{
			{"15m", 15 * time.Minute}, {"1h", time.Hour},
			{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour},
		},
		Quantiles:      []float64{0.5, 0.9, 0.99},
		Channels:       []string{"email", "chat", "phone", "social", "web"},
		MaxTeams:       50,
		HoldFor:        time.Hour,
		RetainResolved: 8 * 24 * time.Hour,
		RetainIDs:      8 * 24 * time.Hour,
		MaxClockSkew:   5 * time.Minute,
		SLA:            sla.DefaultConfig(),
		MaxTracked:     2_000_000,
		MaxHeld:        100_000,

		MaxTicketlessIDs: 1_000_000,
	}
}

// Limits of the label index: a breakdown packs channel and team into a
// byte each (see breakdown), with room for "all", "unknown" and "other".
const (
	maxChannels = 100
	maxTeams    = 250
)

// Validate checks every field and names the one that is wrong by its
// configuration key, with what is allowed. New refuses a configuration
// that fails it.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if len(c.Windows) == 0 {
		bad("windows", "at least one window is needed")
	}
	seen := map[string]bool{}
	for _, w := range c.Windows {
		switch {
		case w.Width < time.Minute:
			bad("windows", "%q: must be at least 1m", w.Name)
		case w.Width%60 != 0:
			bad("windows", "%q: must split into 60 equal panes", w.Name)
		case seen[w.Name]:
			bad("windows", "%q appears twice", w.Name)
		}
		seen[w.Name] = true
	}
	if len(c.Quantiles) == 0 {
		bad("quantiles", "at least one quantile is needed")
	}
	for i, q := range c.Quantiles {
		if !(q > 0 && q <= 1) {
			bad("quantiles", "%v: must be greater than 0 and at most 1", q)
		}
		if i > 0 && q <= c.Quantiles[i-1] {
			bad("quantiles", "must be listed in ascending order without repeats")
		}
	}
	seenChannel := map[string]bool{}
	for _, ch := range c.Channels {
		switch {
		case ch == "" || ch == LabelAll || ch == LabelOther:
			bad("channels", "%q: must be non-empty and not %q or %q", ch, LabelAll, LabelOther)
		case ch != strings.ToLower(ch):
			bad("channels", "%q: must be lower case, like %q (events' channels are matched exactly, and publishers send them in lower case)", ch, strings.ToLower(ch))
		case seenChannel[ch]:
			bad("channels", "%q appears twice", ch)
		}
		seenChannel[ch] = true
	}
	if len(c.Channels) > maxChannels {
		bad("channels", "at most %d channels", maxChannels)
	}
	seenTeam := map[string]bool{}
	for _, t := range c.Teams {
		switch {
		case t == "" || t == LabelAll || t == LabelOther:
			bad("teams", "%q: must be non-empty and not %q or %q", t, LabelAll, LabelOther)
		case seenTeam[t]:
			bad("teams", "%q appears twice", t)
		}
		seenTeam[t] = true
	}
	if len(c.Teams) > maxTeams {
		bad("teams", "at most %d teams", maxTeams)
	}
	if c.MaxTeams < 0 || c.MaxTeams > maxTeams {
		bad("max_teams", "%d: must be from 0 to %d", c.MaxTeams, maxTeams)
	}
	seenAgent := map[string]bool{}
	for _, a := range c.Agents {
		switch {
		case a == "" || a == LabelAll || a == LabelOther || a == LabelUnknown:
			bad("agents", "%q: must be non-empty and not %q, %q or %q", a, LabelAll, LabelOther, LabelUnknown)
		case seenAgent[a]:
			bad("agents", "%q appears twice", a)
		}
		seenAgent[a] = true
	}
	if len(c.Agents) > maxTeams {
		bad("agents", "at most %d agents", maxTeams)
	}
	if c.MaxAgents < 0 || c.MaxAgents > maxTeams {
		bad("max_agents", "%d: must be from 0 (no per-agent series) to %d", c.MaxAgents, maxTeams)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"hold_for", c.HoldFor}, {"retain_resolved", c.RetainResolved}, {"retain_ids", c.RetainIDs}} {
		if d.v < time.Second {
			bad(d.field, "%v: must be at least 1s", d.v)
		}
	}
	for _, l := range []struct {
		field string
		v     int
	}{{"max_tracked_tickets", c.MaxTracked}, {"max_held_events", c.MaxHeld}, {"max_ticketless_ids", c.MaxTicketlessIDs}} {
		if l.v < 0 {
			bad(l.field, "%d: must not be negative (0 is no limit)", l.v)
		}
	}
	if c.MaxClockSkew < 0 {
		bad("max_clock_skew", "%v: must not be negative", c.MaxClockSkew)
	}
	if err := c.SLA.Validate(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.SLA.Policies {
		for _, ch := range p.Match.Channels {
			if !slices.Contains(c.Channels, ch) && ch != LabelUnknown && ch != LabelOther {
				bad(fmt.Sprintf("sla.policies[%d].match.channel", i), "%q: not in channels, so no ticket could match it", ch)
			}
		}
		for _, t := range p.Match.Teams {
			if len(c.Teams) > 0 && !slices.Contains(c.Teams, t) && t != LabelUnknown && t != LabelOther {
				bad(fmt.Sprintf("sla.policies[%d].match.team", i), "%q: not in teams, so no ticket could match it", t)
			}
		}
	}
	return errors.Join(errs...)
}
