package kpi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// The worked examples of docs/sla.md, one test each, with the numbers the
// page gives. Times are minutes after t0, Monday 2026-11-23 08:00 UTC
// (08:30 is minute 30); the default policy unless a test says otherwise.

// clockOf returns the at-risk list entry of ticket id's clock of kind k.
func clockOf(t *testing.T, s *State, id string, k sla.Kind) AtRisk {
	t.Helper()
	for _, a := range s.AtRiskTickets(AtRiskFilter{SLA: k.String()}, 100).Tickets {
		if a.TicketID == id {
			return a
		}
	}
	t.Fatalf("ticket %s has no %s clock at risk or breached", id, k)
	return AtRisk{}
}

// TestDocPendingMovesTheResolutionDeadline is "A pending period moves the
// resolution deadline": a high ticket (first reply 1h, next reply 2h,
// resolution 8h) is pending from 08:30 to 10:30; its resolution deadline
// moves from 16:00 to 18:00, and the resolution at 17:30 is achieved.
func TestDocPendingMovesTheResolutionDeadline(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T-1", 0, pri(hi), ch("email"), team("billing")),
		ev("r1", events.TicketReplied, "T-1", 20), // 08:20
		ev("p", events.TicketStatusChanged, "T-1", 30, status(events.StatusPending)),
	}...)
	// 08:20: first reply after 20 minutes, achieved.
	snap := slaAt(s, 60) // 09:00, pending
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "all"}))
	require.Equal(t, int64(1), snap.SLA.Paused[res][0])
	require.Equal(t, int64(0), snap.SLA.AtRisk[res][0])
	require.False(t, snap.SLA.HasNextBreach[res][0], "a paused clock has no deadline")
	require.Equal(t, int64(1), snap.OpenByStatus[events.StatusPending][0])
	require.Equal(t, int64(0), snap.OpenByStatus[events.StatusOpen][0])
	require.Equal(t, int64(1), snap.Open[0])

	// 10:30: the customer answers and the ticket is open again. The
	// clock resumes with 30 minutes counted: 7h30 left, due 18:00.
	live(s, ev("m1", events.TicketCustomerMessage, "T-1", 150),
		ev("q", events.TicketStatusChanged, "T-1", 150, status(events.StatusOpen)))
	snap = slaAt(s, 150)
	require.Equal(t, int64(0), snap.SLA.Paused[res][0])
	require.Equal(t, at(600), snap.SLA.NextBreach[res][0]) // 18:00
	// The customer message started a wait: next reply due 12:30.
	require.Equal(t, at(270), snap.SLA.NextBreach[nr][0])

	live(s, ev("r2", events.TicketReplied, "T-1", 180)) // 11:00: next reply after 30m
	snap = slaAt(s, 180)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, nr, OutcomeCell{"all", "all", "all"}))
	require.False(t, snap.SLA.HasNextBreach[nr][0])

	// At risk from 16:24: 80% of 8h is 6h24m, 30 minutes before the
	// pause and 5h54m after 10:30.
	require.Equal(t, int64(0), slaAt(s, 503).SLA.AtRisk[res][0]) // 16:23
	snap = slaAt(s, 504)                                         // 16:24
	require.Equal(t, int64(1), snap.SLA.AtRisk[res][0])
	require.Equal(t, int64(1), snap.SLA.AtRisk[res][sc(t, snap, SLACell{"all", "all", "all", "billing"})])
	a := clockOf(t, s, "T-1", res)
	require.Equal(t, "at_risk", a.State)
	require.Equal(t, "open", a.Status)
	require.Equal(t, at(600), a.Deadline)
	require.Equal(t, int64(5760), (a.Deadline-at(504))/int64(time.Second)) // seconds_left
	require.Equal(t, int64(7200), a.PausedSeconds)

	// 16:00, the deadline without the pause, passed unbreached; the
	// resolution at 17:30 is achieved.
	live(s, ev("x", events.TicketResolved, "T-1", 570))
	snap = slaAt(s, 571)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, res, OutcomeCell{"all", "high", "all"}))
	v := slaCell(t, snap, "24h", SLACell{"all", "all", "all", "all"})
	require.Equal(t, [sla.NumKinds]int64{fr: 1, res: 1, nr: 1}, v.Achieved)
	require.Equal(t, [sla.NumKinds]int64{}, v.Breached)
	require.Equal(t, int64(0), snap.SLA.AtRisk[res][0])
	o := overall(t, snap, "24h")
	// The resolution time is calendar time, pause included: 9h30m.
	require.Equal(t, int64(1), o.Resolutions)
	require.Equal(t, int64(570*60_000), o.ResolutionMs)
	require.Equal(t, int64(1), o.NextReplies)
	require.Equal(t, int64(30*60_000), o.NextReplyMs)
	// No replies field: two ticket.replied, so not a first contact
	// resolution.
	require.Equal(t, int64(1), o.FCRResolutions)
	require.Equal(t, int64(0), o.FCROneReply)
}

// TestDocEscalationBreachesAtTheUpdate is "An escalation breaches at the
// update": a normal ticket (first reply 4h, resolution 24h) raised to
// urgent (15m, 4h) at 08:40, with 40 minutes counted.
func TestDocEscalationBreachesAtTheUpdate(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T-2", 0, pri(nrm), ch("chat"), team("support")),
	}...)
	snap := slaAt(s, 1)
	require.Equal(t, at(240), snap.SLA.NextBreach[fr][0])   // 12:00
	require.Equal(t, at(1440), snap.SLA.NextBreach[res][0]) // Tuesday 08:00

	live(s, ev("u", events.TicketUpdated, "T-2", 40, update("", "", int(urg))))
	snap = slaAt(s, 41) // 08:41
	urgent := SLACell{"all", "urgent", "all", "all"}
	normal := SLACell{"all", "normal", "all", "all"}
	require.Equal(t, int64(1), slaCell(t, snap, "15m", urgent).Breached[fr])
	require.Equal(t, int64(0), slaCell(t, snap, "15m", normal).Breached[fr])
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[fr][sc(t, snap, urgent)])
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "urgent", "all"}))
	a := clockOf(t, s, "T-2", fr)
	require.Equal(t, "breached", a.State)
	require.Equal(t, at(40), a.Deadline) // the update, not 08:15
	require.Equal(t, int64(-60), (a.Deadline-at(41))/int64(time.Second))
	// Resolution: 40 minutes of urgent's 4h counted, 3h20m left: due
	// 12:00.
	require.Equal(t, at(240), snap.SLA.NextBreach[res][0])
	// The opening stays counted under normal; the backlog is urgent now.
	require.Equal(t, int64(1), cell(t, snap, "1h", Cell{"all", "normal", "all"}).Opened)
	require.Equal(t, int64(1), snap.Open[pcCell(t, snap, Cell{"all", "urgent", "all"})])

	// 08:50: the first reply, 50 minutes, under urgent; late, so nothing
	// new is counted, and the ticket is no longer a breached open one.
	live(s, ev("r", events.TicketReplied, "T-2", 50))
	snap = slaAt(s, 51)
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[fr][0])
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "all"}))
	fu := cell(t, snap, "1h", Cell{"all", "urgent", "all"})
	require.Equal(t, int64(1), fu.FirstReplies)
	require.Equal(t, int64(50*60_000), fu.FirstReplyMs)

	// At risk from 11:12 (3h12m counted), resolved at 11:30: achieved.
	require.Equal(t, int64(0), slaAt(s, 191).SLA.AtRisk[res][0])
	require.Equal(t, int64(1), slaAt(s, 192).SLA.AtRisk[res][0])
	live(s, ev("x", events.TicketResolved, "T-2", 210))
	snap = slaAt(s, 211)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, res, OutcomeCell{"all", "urgent", "all"}))
	v := slaCell(t, snap, "24h", SLACell{"all", "all", "all", "all"})
	require.Equal(t, int64(0), v.Achieved[fr])
	require.Equal(t, int64(1), v.Breached[fr])
	require.Equal(t, int64(1), v.Achieved[res])
}

// docPolicies is the policies example of docs/sla.md.
func docPolicies() sla.Config {
	ent := sla.DefaultPolicy()
	ent.Name = "enterprise"
	ent.Match.Teams = []string{"enterprise"}
	ent.Targets[fr] = [events.NumPriorities]time.Duration{
		events.PriorityLow: 4 * time.Hour, events.PriorityNormal: 2 * time.Hour,
		events.PriorityHigh: 30 * time.Minute, events.PriorityUrgent: 10 * time.Minute,
	}
	ent.Targets[nr] = [events.NumPriorities]time.Duration{
		events.PriorityLow: 8 * time.Hour, events.PriorityNormal: 4 * time.Hour,
		events.PriorityHigh: time.Hour, events.PriorityUrgent: 30 * time.Minute,
	}
	ent.PauseOn[fr] = sla.StatusesOf(events.StatusOnHold)
	internal := sla.DefaultPolicy()
	internal.Name = "internal"
	internal.Match.Teams = []string{"it"}
	internal.Targets[nr] = [events.NumPriorities]time.Duration{}
	internal.Targets[res] = [events.NumPriorities]time.Duration{}
	return sla.Config{WarnFraction: 0.8, Policies: []sla.Policy{ent, internal, sla.DefaultPolicy()}}
}

// TestDocTransferChangesThePolicy is "A transfer changes the policy": a
// high ticket of team support moves to enterprise at 08:20, to it at
// 09:30 and back to enterprise at 10:00.
func TestDocTransferChangesThePolicy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SLA = docPolicies()
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	pol := func(name string) SLACell { return SLACell{name, "all", "all", "all"} }

	live(s, ev("o", events.TicketOpened, "T-3", 0, pri(hi), ch("email"), team("support")))
	snap := slaAt(s, 1)
	require.Equal(t, at(60), snap.SLA.NextBreach[fr][sc(t, snap, pol("default"))])   // 09:00
	require.Equal(t, at(480), snap.SLA.NextBreach[res][sc(t, snap, pol("default"))]) // 16:00

	// 08:20, to enterprise: 20 minutes counted of high's 30: due 08:30,
	// at risk from 08:24 (24 minutes).
	live(s, ev("u1", events.TicketUpdated, "T-3", 20, update("", "enterprise", -1)))
	snap = slaAt(s, 20)
	require.Equal(t, at(30), snap.SLA.NextBreach[fr][sc(t, snap, pol("enterprise"))])
	require.False(t, snap.SLA.HasNextBreach[fr][sc(t, snap, pol("default"))])
	require.Equal(t, at(480), snap.SLA.NextBreach[res][sc(t, snap, pol("enterprise"))])
	require.Equal(t, int64(0), slaAt(s, 23).SLA.AtRisk[fr][0])
	snap = slaAt(s, 24)
	require.Equal(t, int64(1), snap.SLA.AtRisk[fr][sc(t, snap, pol("enterprise"))])
	require.Equal(t, int64(1), snap.SLA.AtRisk[fr][sc(t, snap, SLACell{"all", "all", "all", "enterprise"})])
	require.Equal(t, "enterprise", clockOf(t, s, "T-3", fr).Policy)

	// 08:28: the first reply achieves it, under enterprise.
	live(s, ev("r1", events.TicketReplied, "T-3", 28))
	snap = slaAt(s, 29)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"enterprise", "all", "all"}))
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "enterprise"}))
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "high", "all"}))
	require.Equal(t, [2]int64{0, 0}, exactOutcome(snap, fr, OutcomeCell{"default", "all", "all"}))

	// 09:00: the customer writes; enterprise's next reply (high 1h) is
	// due 10:00.
	live(s, ev("m1", events.TicketCustomerMessage, "T-3", 60))
	snap = slaAt(s, 60)
	require.Equal(t, at(120), snap.SLA.NextBreach[nr][0])

	// 09:30, to it: internal measures neither next reply nor
	// resolution; both clocks stop without an outcome.
	live(s, ev("u2", events.TicketUpdated, "T-3", 90, update("", "it", -1)))
	snap = slaAt(s, 90)
	require.False(t, snap.SLA.HasNextBreach[nr][0])
	require.False(t, snap.SLA.HasNextBreach[res][0])
	// 09:45: the reply ends the wait, a 45-minute next reply, no outcome.
	live(s, ev("r2", events.TicketReplied, "T-3", 105))
	snap = slaAt(s, 105)
	require.Equal(t, [2]int64{0, 0}, exactOutcome(snap, nr, OutcomeCell{"all", "all", "all"}))
	it := cell(t, snap, "24h", Cell{"all", "all", "it"})
	require.Equal(t, int64(1), it.NextReplies)
	require.Equal(t, int64(45*60_000), it.NextReplyMs)

	// 10:00, back to enterprise: no clock starts on the update.
	live(s, ev("u3", events.TicketUpdated, "T-3", 120, update("", "enterprise", -1)))
	snap = slaAt(s, 120)
	require.False(t, snap.SLA.HasNextBreach[nr][0])
	require.False(t, snap.SLA.HasNextBreach[res][0])
	// 10:10: a new wait starts a next reply clock under enterprise, due
	// 11:10; the resolution at 10:40 fulfils it. The resolution clock
	// stopped at 09:30 and counts nothing.
	live(s, ev("m2", events.TicketCustomerMessage, "T-3", 130))
	snap = slaAt(s, 130)
	require.Equal(t, at(190), snap.SLA.NextBreach[nr][sc(t, snap, pol("enterprise"))])
	require.False(t, snap.SLA.HasNextBreach[res][0])
	live(s, ev("x", events.TicketResolved, "T-3", 160))
	snap = slaAt(s, 161)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, nr, OutcomeCell{"enterprise", "all", "all"}))
	require.Equal(t, [2]int64{0, 0}, exactOutcome(snap, res, OutcomeCell{"all", "all", "all"}))
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "all"}))
	v := overall(t, snap, "24h")
	require.Equal(t, int64(2), v.AgentReplies)
	require.Equal(t, int64(2), v.CustomerMessages)
	require.Equal(t, int64(1), v.NextReplies)
	// The resolution counts under enterprise, the team at its time.
	require.Equal(t, int64(1), cell(t, snap, "24h", Cell{"all", "all", "enterprise"}).Resolved)
	require.Equal(t, int64(1), cell(t, snap, "24h", Cell{"all", "all", "support"}).Opened)
}

// TestDocNextReplyCycles is "Next reply cycles": an urgent chat ticket
// (first reply 15m, next reply 1h, resolution 4h) with three waits.
func TestDocNextReplyCycles(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T-4", 0, pri(urg), ch("chat")),
		ev("m0", events.TicketCustomerMessage, "T-4", 3), // before the first reply: no wait
		ev("f", events.TicketFirstReply, "T-4", 10),      // one reply sent as both types
		ev("r1", events.TicketReplied, "T-4", 10),
		ev("m1", events.TicketCustomerMessage, "T-4", 30), // wait 1, due 09:30
		ev("m2", events.TicketCustomerMessage, "T-4", 45), // wait 1 runs on
	}...)
	snap := slaAt(s, 45)
	require.Equal(t, at(90), snap.SLA.NextBreach[nr][0])
	require.Equal(t, int64(0), slaAt(s, 77).SLA.AtRisk[nr][0])
	require.Equal(t, int64(1), slaAt(s, 78).SLA.AtRisk[nr][0]) // 09:18

	live(s, ev("r2", events.TicketReplied, "T-4", 60), // 09:00: 30m, achieved
		ev("m3", events.TicketCustomerMessage, "T-4", 70)) // wait 2, due 10:10
	snap = slaAt(s, 70)
	require.Equal(t, at(130), snap.SLA.NextBreach[nr][0])
	snap = slaAt(s, 130) // 10:10
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[nr][0])
	require.Equal(t, int64(1), slaCell(t, snap, "1h", SLACell{"all", "all", "chat", "all"}).Breached[nr])
	require.Equal(t, "breached", clockOf(t, s, "T-4", nr).State)

	live(s, ev("r3", events.TicketReplied, "T-4", 145), // 10:25: 75m, late
		ev("m4", events.TicketCustomerMessage, "T-4", 160)) // wait 3, due 11:40
	snap = slaAt(s, 160)
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[nr][0])
	require.Equal(t, at(220), snap.SLA.NextBreach[nr][0])

	live(s, ev("x", events.TicketResolved, "T-4", 180)) // 11:00
	snap = slaAt(s, 181)
	require.Equal(t, [2]int64{2, 1}, exactOutcome(snap, nr, OutcomeCell{"all", "urgent", "all"}))
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "all"}))
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, res, OutcomeCell{"all", "all", "all"}))
	v := overall(t, snap, "24h")
	require.Equal(t, int64(1), v.FirstReplies)
	require.Equal(t, int64(10*60_000), v.FirstReplyMs)
	require.Equal(t, int64(2), v.NextReplies)
	require.Equal(t, int64(105*60_000), v.NextReplyMs)
	avg, ok := v.NextReplyAvg()
	require.True(t, ok)
	require.Equal(t, 3150.0, avg) // 52m30s
	require.Equal(t, int64(3), v.AgentReplies)
	require.Equal(t, int64(5), v.CustomerMessages)
	require.Equal(t, int64(1), v.FCRResolutions)
	require.Equal(t, int64(0), v.FCROneReply)
	c := slaCell(t, snap, "24h", SLACell{"all", "all", "all", "all"})
	require.Equal(t, int64(2), c.Achieved[nr])
	require.Equal(t, int64(1), c.Breached[nr])
	require.Len(t, snap.NextReplyDurations, 1)
	require.Equal(t, uint64(2), snap.NextReplyDurations[0].Count)
}
