// Package sla holds service level policies: the target per SLA and
// priority, the warning fraction, and the clock that targets run on:
// calendar time, or business hours of a weekly schedule with holidays in
// one time zone.
//
// It computes deadlines; it does not track tickets (package kpi does).
// Like the window code it is pure: it never reads the clock.
package sla

import (
	"fmt"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// Kind is which target a clock measures.
type Kind uint8

// The SLAs of the contract.
const (
	FirstReply Kind = iota
	Resolution
	NumKinds
)

// String returns the label value of k: "first_reply" or "resolution".
func (k Kind) String() string {
	if k == FirstReply {
		return "first_reply"
	}
	return "resolution"
}

// Policy is the SLA configuration.
type Policy struct {
	// Targets is the allowed time per kind and priority (indexed by
	// events.Priority).
	Targets [NumKinds][events.NumPriorities]time.Duration
	// WarnFraction is the share of the allowed time after which an open
	// ticket is at risk.
	WarnFraction float64
	// Hours is the business-hours calendar targets run on; nil means
	// calendar time.
	Hours *Calendar
}

// DefaultPolicy returns the contract's defaults: first reply urgent 15m,
// high 1h, normal 4h, low 8h; resolution urgent 4h, high 8h, normal 24h,
// low 72h; warning at 80%; calendar time.
func DefaultPolicy() Policy {
	var p Policy
	set := func(k Kind, urgent, high, normal, low time.Duration) {
		p.Targets[k][events.PriorityUrgent] = urgent
		p.Targets[k][events.PriorityHigh] = high
		p.Targets[k][events.PriorityNormal] = normal
		p.Targets[k][events.PriorityLow] = low
	}
	set(FirstReply, 15*time.Minute, time.Hour, 4*time.Hour, 8*time.Hour)
	set(Resolution, 4*time.Hour, 8*time.Hour, 24*time.Hour, 72*time.Hour)
	p.WarnFraction = 0.8
	return p
}

// Validate checks the targets and the warning fraction.
func (p *Policy) Validate() error {
	for k := range NumKinds {
		for pri := range events.Priority(events.NumPriorities) {
			if p.Targets[k][pri] <= 0 {
				return fmt.Errorf("sla.%s.%s: %v: must be positive", k, pri, p.Targets[k][pri])
			}
		}
	}
	if !(p.WarnFraction > 0 && p.WarnFraction < 1) {
		return fmt.Errorf("sla.warn_fraction: %v: must be between 0 and 1 (exclusive)", p.WarnFraction)
	}
	return nil
}

// Clock returns, for a target of kind k at priority pri whose clock starts
// at start (Unix ns), the time it becomes at risk and its deadline.
func (p *Policy) Clock(k Kind, pri events.Priority, start int64) (warn, deadline int64) {
	d := p.Targets[k][pri]
	w := time.Duration(float64(d) * p.WarnFraction)
	if p.Hours == nil {
		return start + int64(w), start + int64(d)
	}
	t := time.Unix(0, start)
	return p.Hours.Add(t, w).UnixNano(), p.Hours.Add(t, d).UnixNano()
}
