package simulate

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// helpdeskHealth is what a team lead would read off a few days of the
// stream: the open backlog at the end of each day, and the share of first
// reply and resolution clocks that were met in time over days 2 and 3.
type helpdeskHealth struct {
	backlog                  []int // open tickets at the end of day 1, 2, …
	firstReply, resolution   float64
	firstReplies, resolveds  int // outcomes counted
	openedPerDay, resolvedPD []int
}

// Default SLA targets of the contract, by priority; resolution time stands
// still while a ticket is pending or on hold.
var (
	firstReplyTargets = map[string]time.Duration{"urgent": 15 * time.Minute, "high": time.Hour, "normal": 4 * time.Hour, "low": 8 * time.Hour}
	resolutionTargets = map[string]time.Duration{"urgent": 4 * time.Hour, "high": 8 * time.Hour, "normal": 24 * time.Hour, "low": 72 * time.Hour}
)

// measureHealth generates days of cfg's stream (and a day beyond, so that
// the clocks of the last day can end) and computes helpdeskHealth from the
// events alone, in the simplest way: distinct ids, sorted by event time,
// folded ticket by ticket. It shares nothing with the aggregator.
func measureHealth(t *testing.T, cfg Config, days int) helpdeskHealth {
	t.Helper()
	type timed struct {
		at time.Time
		e  wireEvent
	}
	g := NewGenerator(cfg)
	var evs []timed
	seen := map[string]bool{}
	var start time.Time
	for {
		m := g.Next()
		if start.IsZero() {
			start = m.OccurredAt
		}
		if m.OccurredAt.After(start.Add(time.Duration(days+1) * 24 * time.Hour)) {
			break
		}
		if seen[m.MsgID] {
			continue
		}
		seen[m.MsgID] = true
		var e wireEvent
		require.NoError(t, json.Unmarshal(m.Data, &e))
		evs = append(evs, timed{m.OccurredAt, e})
	}
	slices.SortStableFunc(evs, func(a, b timed) int { return a.at.Compare(b.at) })

	type ticket struct {
		prio             string
		open             bool      // opened or reopened, not resolved since
		status           string    // open, pending or on_hold
		openedAt         time.Time // the opening
		since            time.Time // the opening or reopening the resolution clock runs from
		counted          time.Duration
		last             time.Time // of the last status change while the clock runs
		firstDone, fresh bool      // first reply clock decided; resolution clock from a fresh start
	}
	tickets := map[string]*ticket{}
	var h helpdeskHealth
	h.backlog = make([]int, days)
	h.openedPerDay = make([]int, days+1)
	h.resolvedPD = make([]int, days+1)
	backlog := 0
	dayEnd := 1
	measured := func(at time.Time) bool {
		return !at.Before(start.Add(24*time.Hour)) && at.Before(start.Add(time.Duration(days)*24*time.Hour))
	}
	var frMet, frAll, resMet, resAll int
	firstReplyOutcome := func(tk *ticket, at time.Time, replied bool) {
		if tk.firstDone {
			return
		}
		deadline := tk.openedAt.Add(firstReplyTargets[tk.prio])
		if !replied && !at.After(deadline) {
			return // closed unanswered before the deadline: no outcome
		}
		tk.firstDone = true
		if measured(tk.openedAt) {
			frAll++
			if replied && !at.After(deadline) {
				frMet++
			}
		}
	}
	for _, te := range evs {
		for dayEnd <= days && !te.at.Before(start.Add(time.Duration(dayEnd)*24*time.Hour)) {
			h.backlog[dayEnd-1] = backlog
			dayEnd++
		}
		day := int(te.at.Sub(start) / (24 * time.Hour))
		e := te.e
		if e.TicketID == nil {
			continue
		}
		tk := tickets[*e.TicketID]
		if tk == nil && *e.Type != "ticket.opened" {
			continue
		}
		switch *e.Type {
		case "ticket.opened":
			tk = &ticket{prio: *e.Priority, open: true, status: "open", openedAt: te.at, since: te.at, last: te.at, fresh: true}
			tickets[*e.TicketID] = tk
			backlog++
			h.openedPerDay[day]++
		case "ticket.updated":
			if e.Priority != nil {
				tk.prio = *e.Priority
			}
		case "ticket.replied", "ticket.first_reply":
			firstReplyOutcome(tk, te.at, true)
		case "ticket.status_changed":
			if tk.open && tk.status == "open" {
				tk.counted += te.at.Sub(tk.last)
			}
			tk.status, tk.last = *e.Status, te.at
		case "ticket.reopened":
			if !tk.open {
				tk.open, tk.status, tk.since, tk.last, tk.counted = true, "open", te.at, te.at, 0
				backlog++
			}
		case "ticket.resolved":
			firstReplyOutcome(tk, te.at, false)
			if !tk.open {
				continue
			}
			if tk.status == "open" {
				tk.counted += te.at.Sub(tk.last)
			}
			if measured(tk.since) {
				resAll++
				if tk.counted <= resolutionTargets[tk.prio] {
					resMet++
				}
			}
			tk.open = false
			backlog--
			h.resolvedPD[day]++
		}
	}
	// Clocks that the end of the stream leaves running: breached once
	// their target has passed.
	end := start.Add(time.Duration(days+1) * 24 * time.Hour)
	for _, tk := range tickets {
		if !tk.firstDone && measured(tk.openedAt) && end.After(tk.openedAt.Add(firstReplyTargets[tk.prio])) {
			frAll++
		}
		if tk.open && measured(tk.since) {
			running := tk.counted
			if tk.status == "open" {
				running += end.Sub(tk.last)
			}
			if running > resolutionTargets[tk.prio] {
				resAll++
			}
		}
	}
	h.firstReply = float64(frMet) / float64(frAll)
	h.resolution = float64(resMet) / float64(resAll)
	h.firstReplies, h.resolveds = frAll, resAll
	return h
}

// TestModelHealth checks the two teams over three days of a fixed seed:
// the default one keeps pace (the backlog at the end of day 3 is within
// 10% of that of day 2; 88 to 97% of first replies and 90 to 98% of
// resolutions in time), the overloaded one does not (the backlog still
// grows on day 3, first replies are late more often).
func TestModelHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("generates four days of events twice")
	}
	t.Parallel()
	cfg := DefaultConfig()
	h := measureHealth(t, cfg, 3)
	t.Logf("healthy: %+v", h)
	require.InEpsilon(t, h.backlog[1], h.backlog[2], 0.10, "backlog at the end of day 2 and 3")
	require.InEpsilon(t, h.backlog[1], h.backlog[0], 0.10, "backlog at the end of day 1 and 2")
	require.InDelta(t, 0.925, h.firstReply, 0.045, "first reply compliance")
	require.InDelta(t, 0.94, h.resolution, 0.04, "resolution compliance")

	cfg.Overloaded = true
	o := measureHealth(t, cfg, 3)
	t.Logf("overloaded: %+v", o)
	require.Greater(t, float64(o.backlog[1]), 1.2*float64(o.backlog[0]), "overloaded backlog on day 2")
	require.Greater(t, float64(o.backlog[2]), 1.05*float64(o.backlog[1]), "overloaded backlog on day 3")
	require.Greater(t, float64(o.backlog[2]), 1.5*float64(h.backlog[2]), "overloaded backlog against the healthy one")
	require.Less(t, o.firstReply, h.firstReply-0.05, "overloaded first reply compliance")
}
