package kpi

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

const (
	fr  = sla.FirstReply
	res = sla.Resolution
	urg = events.PriorityUrgent
	hi  = events.PriorityHigh
	nrm = events.PriorityNormal
	low = events.PriorityLow
)

// slaAt advances s to minute m and returns the snapshot.
func slaAt(s *State, m float64) *View {
	s.Advance(at(m))
	return s.View(at(m))
}

// TestSLALifecycle walks a morning with the default targets (first reply:
// urgent 15m, high 1h, normal 4h, low 8h; resolution: urgent 4h; warning at
// 80%) and checks every SLA figure by hand.
func TestSLALifecycle(t *testing.T) {
	s := newState(t, 0)
	for _, o := range []*events.Event{
		ev("u1", events.TicketOpened, "U1", 0, pri(urg)),
		ev("u2", events.TicketOpened, "U2", 0, pri(urg)),
		ev("u3", events.TicketOpened, "U3", 0, pri(urg)),
		ev("u4", events.TicketOpened, "U4", 0, pri(urg)),
		ev("h1", events.TicketOpened, "H1", 0, pri(hi)),
		ev("n1", events.TicketOpened, "N1", 0, pri(nrm)),
		ev("l1", events.TicketOpened, "L1", 0, pri(low)),
	} {
		s.Apply(o)
	}
	s.Advance(at(10))
	s.Apply(ev("u1r", events.TicketFirstReply, "U1", 10)) // in time: achieved at 08:10

	// 08:13: the urgent clocks still running passed their warning (08:12).
	snap := slaAt(s, 13)
	require.Equal(t, int64(3), snap.SLA.AtRisk[fr][pc(urg)]) // U2, U3, U4
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[fr][pc(urg)])
	require.True(t, snap.SLA.HasNextBreach[fr][pc(urg)])
	require.Equal(t, at(15), snap.SLA.NextBreach[fr][pc(urg)])
	require.Equal(t, at(60), snap.SLA.NextBreach[fr][pc(hi)])
	require.Equal(t, at(240), snap.SLA.NextBreach[res][pc(urg)])

	// 08:16: the wall clock passed 08:15 with no replies: three breaches,
	// counted at 08:15, without any new event.
	snap = slaAt(s, 16)
	require.Equal(t, int64(0), snap.SLA.AtRisk[fr][pc(urg)])
	require.Equal(t, int64(3), snap.SLA.BreachedOpen[fr][pc(urg)])
	require.Equal(t, [2]int64{1, 3}, snap.SLA.Outcomes[fr][pc(urg)])
	v := slaCell(t, snap, "1h", SLACell{"all", "urgent", "all", "all"})
	require.Equal(t, int64(1), v.Achieved[fr])
	require.Equal(t, int64(3), v.Breached[fr])
	require.InDelta(t, 0.25, must(t, func() (float64, bool) { return v.Compliance(fr) }), 1e-12)
	require.Equal(t, at(60), snap.SLA.NextBreach[fr][pc(hi)])

	// U2 replies late, at 08:20: still one breach, counted once, even
	// when the reply is delivered twice. Its ticket is no longer an open
	// breach of the first reply SLA.
	s.Advance(at(20))
	s.Apply(ev("u2r", events.TicketFirstReply, "U2", 20))
	require.Equal(t, Duplicate, s.Apply(ev("u2r", events.TicketFirstReply, "U2", 20)))
	snap = slaAt(s, 20)
	require.Equal(t, [2]int64{1, 3}, snap.SLA.Outcomes[fr][pc(urg)])
	require.Equal(t, int64(2), snap.SLA.BreachedOpen[fr][pc(urg)])

	// U4's reply was sent at 08:14 but reaches us only now: it met the
	// target, so the breach counted at 08:15 is taken back. The windowed
	// counts show 2 achieved and 2 breached; the cumulative counters never
	// fall: the breach stays counted (3), the achievement is added (2), and
	// the breach taken back is counted as a correction (1).
	s.Apply(ev("u4r", events.TicketFirstReply, "U4", 14))
	snap = slaAt(s, 21)
	require.Equal(t, [2]int64{2, 3}, snap.SLA.Outcomes[fr][pc(urg)])
	require.Equal(t, [2]int64{0, 1}, snap.SLA.OutcomesCorrected[fr][pc(urg)])
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[fr][pc(urg)]) // U3
	v = slaCell(t, snap, "1h", SLACell{"all", "urgent", "all", "all"})
	require.Equal(t, int64(2), v.Achieved[fr])
	require.Equal(t, int64(2), v.Breached[fr])

	// N1 is resolved without a reply: the resolution fulfils both clocks.
	s.Apply(ev("n1x", events.TicketResolved, "N1", 21))
	snap = slaAt(s, 21)
	require.Equal(t, [2]int64{1, 0}, snap.SLA.Outcomes[fr][pc(nrm)])
	require.Equal(t, [2]int64{1, 0}, snap.SLA.Outcomes[res][pc(nrm)])

	// H1 (first reply 1h, warning at 48 min) is at risk at 08:50 and in
	// breach at 09:01.
	snap = slaAt(s, 50)
	require.Equal(t, int64(1), snap.SLA.AtRisk[fr][pc(hi)])
	snap = slaAt(s, 61)
	require.Equal(t, int64(0), snap.SLA.AtRisk[fr][pc(hi)])
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[fr][pc(hi)])
	require.Equal(t, [2]int64{0, 1}, snap.SLA.Outcomes[fr][pc(hi)])
	// Next urgent resolution breach: 12:00, for U1–U4 opened at 08:00.
	require.Equal(t, at(240), snap.SLA.NextBreach[res][pc(urg)])
	// L1's first reply deadline is 16:00; nothing else low is pending.
	require.Equal(t, at(480), snap.SLA.NextBreach[fr][pc(low)])
	require.False(t, snap.SLA.HasNextBreach[fr][pc(nrm)])

	// The at-risk list: open tickets at risk or in breach, soonest
	// deadline first.
	list := s.AtRiskTickets(AtRiskFilter{}, 10)
	require.Equal(t, AtRiskList{Breached: 2, Tickets: []AtRisk{
		{TicketID: "U3", SLA: "first_reply", Policy: "default", Priority: "urgent", Channel: "unknown", Team: "unknown", State: "breached", Status: "open", Deadline: at(15)},
		{TicketID: "H1", SLA: "first_reply", Policy: "default", Priority: "high", Channel: "unknown", Team: "unknown", State: "breached", Status: "open", Deadline: at(60)},
	}}, list)
	require.Len(t, s.AtRiskTickets(AtRiskFilter{}, 1).Tickets, 1)
	require.Equal(t, 2, s.AtRiskTickets(AtRiskFilter{}, 1).Breached)
	require.Empty(t, s.AtRiskTickets(AtRiskFilter{State: "at_risk"}, 10).Tickets)
	require.Equal(t, "H1", s.AtRiskTickets(AtRiskFilter{Priority: "high"}, 10).Tickets[0].TicketID)
}

func TestSLAReopenStartsANewResolutionClock(t *testing.T) {
	s := newState(t, 0)
	s.Apply(ev("o", events.TicketOpened, "R", 0, pri(urg)))
	s.Advance(at(30))
	s.Apply(ev("x1", events.TicketResolved, "R", 30)) // within 4h: achieved
	s.Advance(at(60))
	s.Apply(ev("re", events.TicketReopened, "R", 60)) // new clock: due 13:00
	snap := slaAt(s, 61)
	require.Equal(t, at(300), snap.SLA.NextBreach[res][pc(urg)])
	snap = slaAt(s, 301)
	require.Equal(t, [2]int64{1, 1}, snap.SLA.Outcomes[res][pc(urg)])
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[res][pc(urg)])
	s.Apply(ev("x2", events.TicketResolved, "R", 310)) // late: no second breach
	snap = slaAt(s, 311)
	require.Equal(t, [2]int64{1, 1}, snap.SLA.Outcomes[res][pc(urg)])
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[res][pc(urg)])
	v := slaCell(t, snap, "24h", SLACell{"all", "all", "all", "all"})
	require.Equal(t, int64(1), v.Achieved[res])
	require.Equal(t, int64(1), v.Breached[res])
}

// TestSLAOrderDoesNotMatter delivers the same events in many orders, with
// the wall clock well past every deadline, and expects identical SLA
// figures.
func TestSLAOrderDoesNotMatter(t *testing.T) {
	base := []*events.Event{
		ev("a", events.TicketOpened, "A", 0, pri(urg)),
		ev("ar", events.TicketFirstReply, "A", 20),
		ev("b", events.TicketOpened, "B", 1, pri(urg)),
		ev("br", events.TicketFirstReply, "B", 5),
		ev("bx", events.TicketResolved, "B", 100),
		ev("bre", events.TicketReopened, "B", 110),
		ev("c", events.TicketOpened, "C", 2, pri(hi)),
		ev("cx", events.TicketResolved, "C", 30),
	}
	cfg := DefaultConfig()
	cfg.HoldFor = 10 * time.Hour // every order below arrives within the hold
	var want *View
	for round := range 50 {
		s, err := New(cfg, at(600))
		require.NoError(t, err)
		evs := append([]*events.Event(nil), base...)
		r := uint64(round)
		for i := len(evs) - 1; i > 0; i-- { // deterministic shuffle
			r = r*6364136223846793005 + 1442695040888963407
			j := int(r>>33) % (i + 1)
			evs[i], evs[j] = evs[j], evs[i]
		}
		applyAll(s, evs)
		snap := slaAt(s, 600)
		if want == nil {
			want = snap
			// A breached (reply at 20 after 15), B achieved, C achieved
			// by its resolution.
			require.Equal(t, [2]int64{1, 1}, exactOutcomes(snap, fr, urg))
			require.Equal(t, [2]int64{1, 0}, exactOutcomes(snap, fr, hi))
			// Resolution: B achieved at 100, then its reopened clock
			// (110 + 4h = 350) breached; A open since 0: breached at 240;
			// C achieved.
			require.Equal(t, [2]int64{1, 2}, exactOutcomes(snap, res, urg))
			require.Equal(t, int64(2), snap.SLA.BreachedOpen[res][pc(urg)])
		}
		require.Equal(t, exactSLA(want), exactSLA(snap), "round %d", round)
		require.Equal(t, byCell(want), byCell(snap), "round %d", round)
	}
}

// BenchmarkSLATick measures one deadline tick with a single clock due,
// among 100,000 and 1,000,000 open tickets: the cost follows the due
// clocks, not the open tickets.
func BenchmarkSLATick(b *testing.B) {
	for _, tickets := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("open=%d", tickets), func(b *testing.B) {
			// Each ticket's clocks change four times (two warnings, two
			// deadlines); when all have, start over with fresh tickets.
			fresh := func() *State {
				s, err := New(DefaultConfig(), at(0))
				require.NoError(b, err)
				e := &events.Event{}
				var id []byte
				for i := range tickets {
					id = appendInt(append(id[:0], "T-"...), i)
					// Low priority: first reply due in 8h, at risk after 6.4h.
					*e = events.Event{ID: id, TicketID: id, Type: events.TicketOpened, Priority: events.PriorityLow,
						OccurredAt: at(float64(i) / 1000), Replies: -1, HandleMillis: -1}
					s.Apply(e)
				}
				return s
			}
			s := fresh()
			b.ReportAllocs()
			for b.Loop() {
				if len(s.sla.timers) == 0 {
					b.StopTimer()
					s = fresh()
					b.StartTimer()
				}
				s.Advance(s.sla.timers[0].at) // exactly the next due clock
			}
		})
	}
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// TestSLAWorkedExample is the worked example of docs/sla.md.
func TestSLAWorkedExample(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	var week [7][]sla.Interval
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []sla.Interval{{Start: 9 * 60, End: 18 * 60}}
	}
	cal, err := sla.NewCalendar(sla.Schedule{Location: berlin, Week: week})
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.SLA.Policies[0].Targets[fr][urg] = time.Hour
	cfg.SLA.Policies[0].Targets[res][urg] = 8 * time.Hour
	cfg.SLA.Policies[0].Hours = cal
	local := func(day, h, m int) int64 { return time.Date(2026, 11, day, h, m, 0, 0, berlin).UnixNano() }
	e := func(id string, typ events.Type, when int64) *events.Event {
		return &events.Event{ID: []byte(id), Type: typ, TicketID: []byte("T"), OccurredAt: when, Priority: urg, Replies: -1, HandleMillis: -1}
	}
	s, err := New(cfg, local(27, 17, 55))
	require.NoError(t, err)
	s.Apply(e("o", events.TicketOpened, local(27, 17, 55))) // Friday
	step := func(when int64) *View { s.Advance(when); return s.View(when) }

	snap := step(local(30, 9, 42)) // Monday
	require.Equal(t, local(30, 9, 55), snap.SLA.NextBreach[fr][pc(urg)])
	require.Equal(t, local(30, 16, 55), snap.SLA.NextBreach[res][pc(urg)])
	require.Equal(t, int64(0), snap.SLA.AtRisk[fr][pc(urg)])
	require.Equal(t, int64(1), step(local(30, 9, 43)).SLA.AtRisk[fr][pc(urg)])
	snap = step(local(30, 9, 55))
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[fr][pc(urg)])
	// The cumulative counter waits ledgerGrace (2s) for messages still
	// on their way before it counts the breach.
	require.Equal(t, [2]int64{0, 0}, snap.SLA.Outcomes[fr][pc(urg)])
	snap = step(local(30, 9, 55) + int64(2*time.Second))
	require.Equal(t, [2]int64{0, 1}, snap.SLA.Outcomes[fr][pc(urg)])
	s.Apply(e("r", events.TicketFirstReply, local(30, 10, 10)))
	require.Equal(t, int64(0), step(local(30, 10, 10)).SLA.BreachedOpen[fr][pc(urg)])
	require.Equal(t, int64(0), step(local(30, 15, 18)).SLA.AtRisk[res][pc(urg)])
	require.Equal(t, int64(1), step(local(30, 15, 19)).SLA.AtRisk[res][pc(urg)])
	s.Apply(e("x", events.TicketResolved, local(30, 15, 0)))
	s.Apply(e("re", events.TicketReopened, local(31, 10, 0))) // Tuesday
	snap = step(local(31, 10, 0))
	require.Equal(t, local(31, 18, 0), snap.SLA.NextBreach[res][pc(urg)])
	s.Apply(e("x2", events.TicketResolved, local(32, 9, 30))) // Wednesday (2 Dec)
	snap = step(local(32, 9, 30))
	require.Equal(t, [2]int64{0, 1}, snap.SLA.Outcomes[fr][pc(urg)])
	require.Equal(t, [2]int64{1, 1}, snap.SLA.Outcomes[res][pc(urg)])
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[res][pc(urg)])
}

// pc is the index of priority p in View.SLACells and SLAStatus.OutcomeCells:
// after the overall value, the priorities in order.
func pc(p events.Priority) int { return 1 + int(p) }
