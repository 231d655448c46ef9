package kpi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Hand-worked timelines for the v2 SLA rules (contract section 2, SLA).
// Minutes are after t0, Monday 2026-11-23 08:00 UTC; the default policy's
// targets are first reply urgent 15m, normal 4h, low 8h; next reply urgent
// 1h, normal 8h; resolution urgent 4h; warning at 80%; resolution paused
// while pending or on hold.

const nr = sla.NextReply

func status(st events.Status) evOpt { return func(e *events.Event) { e.Status = st } }

// update sets the fields of a ticket.updated; empty strings and a
// negative priority leave a field out.
func update(channel, team string, p int) evOpt {
	return func(e *events.Event) {
		if channel != "" {
			e.Channel, e.Changes = []byte(channel), e.Changes|events.ChangeChannel
		}
		if team != "" {
			e.Team, e.Changes = []byte(team), e.Changes|events.ChangeTeam
		}
		if p >= 0 {
			e.Priority, e.Changes = events.Priority(p), e.Changes|events.ChangePriority
		}
	}
}

// live applies evs as a live stream delivers them: the wall clock at each
// event's time, which never goes back.
func live(s *State, evs ...*events.Event) {
	for _, e := range evs {
		s.Advance(e.OccurredAt)
		s.Apply(e)
	}
}

// sc returns the index of SLA cell c in v.SLACells.
func sc(t testing.TB, v *View, c SLACell) int {
	t.Helper()
	for i, x := range v.SLACells {
		if x == c {
			return i
		}
	}
	t.Fatalf("no SLA cell %v", c)
	return 0
}

var allSLA = SLACell{"all", "all", "all", "all"}

func exactOutcome(v *View, k sla.Kind, cell OutcomeCell) [2]int64 {
	for i, c := range v.SLA.OutcomeCells {
		if c == cell {
			o, c := v.SLA.Outcomes[k][i], v.SLA.OutcomesCorrected[k][i]
			return [2]int64{o[0] - c[0], o[1] - c[1]}
		}
	}
	panic("no outcome cell")
}

// TestPauseMovesTheDeadline: an urgent ticket (resolution 4h) is pending
// from 60 to 150, so its deadline moves from 240 by exactly the pause, to
// 330. The warning comes at 80% of 4h counted, 3h12m: 60 minutes before
// the pause and 132 after it, at 282.
func TestPauseMovesTheDeadline(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("a", events.TicketOpened, "A", 0, pri(urg)),
		ev("b", events.TicketOpened, "B", 0, pri(urg)),
		ev("a1", events.TicketReplied, "A", 5), // first replies in time
		ev("b1", events.TicketReplied, "B", 5),
		ev("a2", events.TicketStatusChanged, "A", 60, status(events.StatusPending)),
		ev("b2", events.TicketStatusChanged, "B", 60, status(events.StatusPending)),
	}...)
	snap := slaAt(s, 100) // both pending
	require.Equal(t, int64(2), snap.SLA.Paused[res][0])
	require.Equal(t, int64(2), snap.SLA.Paused[res][pc(urg)])
	require.False(t, snap.SLA.HasNextBreach[res][0], "a paused clock has no deadline")
	require.Equal(t, []int64{0, 2, 0}, []int64{snap.OpenByStatus[events.StatusOpen][0], snap.OpenByStatus[events.StatusPending][0], snap.OpenByStatus[events.StatusOnHold][0]})
	require.Equal(t, int64(2), snap.Open[0])
	live(s, ev("a3", events.TicketStatusChanged, "A", 150, status(events.StatusOpen)),
		ev("b3", events.TicketStatusChanged, "B", 150, status(events.StatusOpen)))

	snap = slaAt(s, 281)
	require.Equal(t, int64(0), snap.SLA.Paused[res][0])
	require.Equal(t, int64(0), snap.SLA.AtRisk[res][0])
	require.Equal(t, at(330), snap.SLA.NextBreach[res][0])
	require.Equal(t, int64(2), slaAt(s, 282).SLA.AtRisk[res][0])
	list := s.AtRiskTickets(AtRiskFilter{SLA: "resolution"}, 10)
	require.Equal(t, 2, list.AtRisk)
	require.Equal(t, int64(90*60), list.Tickets[0].PausedSeconds)
	require.Equal(t, at(330), list.Tickets[0].Deadline)

	live(s, ev("a4", events.TicketResolved, "A", 320)) // before 330: achieved
	snap = slaAt(s, 331)
	require.Equal(t, [2]int64{1, 1}, exactOutcome(snap, res, OutcomeCell{"all", "all", "all"})) // A achieved, B breached at 330
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[res][0])
	v := slaCell(t, snap, "24h", allSLA)
	require.Equal(t, int64(1), v.Achieved[res])
	require.Equal(t, int64(1), v.Breached[res])

	// B goes pending again after its breach: it counts as paused only,
	// and its breach stays counted.
	live(s, ev("b4", events.TicketStatusChanged, "B", 340, status(events.StatusOnHold)))
	snap = slaAt(s, 341)
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[res][0])
	require.Equal(t, int64(1), snap.SLA.Paused[res][0])
	require.Equal(t, int64(1), slaCell(t, snap, "24h", allSLA).Breached[res])
	require.Equal(t, int64(1), snap.OpenByStatus[events.StatusOnHold][0])
	// Resolved while on hold: breached at its deadline, 330, once.
	live(s, ev("b5", events.TicketResolved, "B", 350))
	snap = slaAt(s, 351)
	require.Equal(t, [2]int64{1, 1}, exactOutcome(snap, res, OutcomeCell{"all", "all", "all"}))
	require.Equal(t, int64(0), snap.SLA.Paused[res][0])
	require.Equal(t, int64(0), snap.Open[0])
}

// TestPauseAcrossBusinessHours: business hours Monday to Friday 09:00–18:00
// Berlin; an urgent resolution target of 4h. Opened Friday 16:00, pending
// from Friday 17:00 (1h counted) to Monday 10:00. The pause took two hours
// of business time (Friday 17–18, Monday 9–10), so the deadline is Monday
// 13:00 (3h left from 10:00), not 11:00 as without the pause.
func TestPauseAcrossBusinessHours(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	var week [7][]sla.Interval
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []sla.Interval{{Start: 9 * 60, End: 18 * 60}}
	}
	cal, err := sla.NewCalendar(sla.Schedule{Location: berlin, Week: week})
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.SLA.Policies[0].Hours = cal
	local := func(day, h, m int) int64 { return time.Date(2026, 11, day, h, m, 0, 0, berlin).UnixNano() }
	e := func(id string, typ events.Type, when int64, opts ...evOpt) *events.Event {
		x := &events.Event{ID: []byte(id), Type: typ, TicketID: []byte("T"), OccurredAt: when, Priority: urg, Replies: -1, HandleMillis: -1}
		for _, o := range opts {
			o(x)
		}
		return x
	}
	s, err := New(cfg, local(27, 16, 0))
	require.NoError(t, err)
	s.Apply(e("o", events.TicketOpened, local(27, 16, 0)))
	s.Apply(e("r", events.TicketReplied, local(27, 16, 5)))
	s.Apply(e("p", events.TicketStatusChanged, local(27, 17, 0), status(events.StatusPending)))
	s.Apply(e("q", events.TicketStatusChanged, local(30, 10, 0), status(events.StatusOpen)))
	s.Advance(local(30, 10, 0))
	snap := s.View(local(30, 10, 0))
	require.Equal(t, local(30, 13, 0), snap.SLA.NextBreach[res][0])
	// The warning at 3h12m counted: 2h12m after 10:00, at 12:12.
	require.Equal(t, int64(0), func() int64 { s.Advance(local(30, 12, 11)); return s.View(local(30, 12, 11)).SLA.AtRisk[res][0] }())
	require.Equal(t, int64(1), func() int64 { s.Advance(local(30, 12, 12)); return s.View(local(30, 12, 12)).SLA.AtRisk[res][0] }())
	list := s.AtRiskTickets(AtRiskFilter{}, 10)
	// Paused from Friday 17:00 to Monday 10:00: 65 hours of calendar time.
	require.Equal(t, int64(65*3600), list.Tickets[0].PausedSeconds)
}

// TestNextReplyCycles: a normal ticket (next reply target 8h). Opened at
// 0, first reply at 10. The customer writes at 60 and again at 90 (the
// wait started at 60 keeps running); the reply at 120 ends it: 60
// minutes. The customer writes at 180, the reply at 200 ends that wait: 20
// minutes. The customer writes at 240 and the ticket is resolved at 300:
// the wait ends without a sample, and the resolution fulfils the next
// reply clock. So: 2 next replies, 80 minutes in all; 3 agent replies, 4
// customer messages; next reply SLA achieved 3 times; the resolution
// counts 3 replies, so it is not a first contact resolution.
func TestNextReplyCycles(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(nrm), ch("email")),
		ev("r1", events.TicketReplied, "T", 10),
		ev("m1", events.TicketCustomerMessage, "T", 60),
		ev("m2", events.TicketCustomerMessage, "T", 90),
		ev("r2", events.TicketReplied, "T", 120),
		ev("m3", events.TicketCustomerMessage, "T", 180),
		ev("r3", events.TicketReplied, "T", 200),
		ev("m4", events.TicketCustomerMessage, "T", 240),
		ev("x", events.TicketResolved, "T", 300),
	}...)
	snap := slaAt(s, 301)
	v := overall(t, snap, "24h")
	require.Equal(t, int64(2), v.NextReplies)
	require.Equal(t, int64(80*60_000), v.NextReplyMs)
	require.Equal(t, int64(3), v.AgentReplies)
	require.Equal(t, int64(4), v.CustomerMessages)
	require.Equal(t, int64(1), v.FirstReplies)
	require.Equal(t, int64(10*60_000), v.FirstReplyMs)
	require.Equal(t, int64(1), v.FCRResolutions)
	require.Equal(t, int64(0), v.FCROneReply)
	require.Equal(t, int64(3), slaCell(t, snap, "24h", allSLA).Achieved[nr])
	require.Equal(t, [2]int64{3, 0}, exactOutcome(snap, nr, OutcomeCell{"all", "normal", "all"}))
	require.Equal(t, int64(2), cell(t, snap, "24h", Cell{"email", "all", "all"}).NextReplies)
	require.Len(t, snap.NextReplyDurations, 1)
	require.Equal(t, uint64(2), snap.NextReplyDurations[0].Count)
	require.InDelta(t, 80*60.0, snap.NextReplyDurations[0].SumSeconds, 1e-9)
}

// TestNextReplyBreach: an urgent ticket (next reply 1h): first reply at
// 5, the customer writes at 30, at risk from 78 (80% of 1h), breached at
// 90; the reply at 120 is late, and the breach stays counted at 90. A
// message before the first reply starts no wait.
func TestNextReplyBreach(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(urg)),
		ev("m0", events.TicketCustomerMessage, "T", 2), // before the first reply: no wait
		ev("r1", events.TicketReplied, "T", 5),
		ev("m1", events.TicketCustomerMessage, "T", 30),
	}...)
	snap := slaAt(s, 77)
	require.Equal(t, int64(0), snap.SLA.AtRisk[nr][0])
	require.Equal(t, at(90), snap.SLA.NextBreach[nr][0])
	require.Equal(t, int64(1), slaAt(s, 78).SLA.AtRisk[nr][0])
	list := s.AtRiskTickets(AtRiskFilter{SLA: "next_reply"}, 10)
	require.Equal(t, "next_reply", list.Tickets[0].SLA)
	snap = slaAt(s, 91)
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[nr][0])
	live(s, ev("r2", events.TicketReplied, "T", 120))
	snap = slaAt(s, 121)
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[nr][0])
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, nr, OutcomeCell{"all", "urgent", "all"}))
	v := overall(t, snap, "24h")
	require.Equal(t, int64(1), v.NextReplies)
	require.Equal(t, int64(90*60_000), v.NextReplyMs)
	require.Equal(t, int64(1), v.FirstReplies) // from ticket.replied
}

// TestEscalationBreachesAtTheUpdate: a normal ticket (first reply 4h) is
// raised to urgent (15m) at 30, with 30 minutes counted: the breach counts
// at 30, under urgent, not back-dated to 15.
func TestEscalationBreachesAtTheUpdate(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(nrm)),
		ev("u", events.TicketUpdated, "T", 30, update("", "", int(urg))),
	}...)
	snap := slaAt(s, 44)
	// The 15m window at 44 covers (29, 44]: a breach at 15 would be out.
	v := slaCell(t, snap, "15m", SLACell{"all", "urgent", "all", "all"})
	require.Equal(t, int64(1), v.Breached[fr])
	require.Equal(t, int64(0), slaCell(t, snap, "15m", SLACell{"all", "normal", "all", "all"}).Breached[fr])
	require.Equal(t, int64(1), snap.SLA.BreachedOpen[fr][pc(urg)])
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "urgent", "all"}))
	// The backlog moved to urgent with the update; the opening stays
	// counted under normal.
	require.Equal(t, int64(1), snap.Open[pcCell(t, snap, Cell{"all", "urgent", "all"})])
	require.Equal(t, int64(1), cell(t, snap, "1h", Cell{"all", "normal", "all"}).Opened)
	// The resolution clock: 30 minutes counted of urgent's 4h: deadline 240.
	require.Equal(t, at(240), snap.SLA.NextBreach[res][0])
	// The reply at 50 is late: breached once, at 30.
	live(s, ev("r", events.TicketReplied, "T", 50))
	snap = slaAt(s, 51)
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "all"}))
}

// TestDeEscalationSavesTheTicket: an urgent ticket (first reply 15m) is
// lowered to low (8h) at 10, with 10 minutes counted: the deadline moves
// to 480, and the reply at 60 achieves the target, under low.
func TestDeEscalationSavesTheTicket(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(urg)),
		ev("u", events.TicketUpdated, "T", 10, update("", "", int(low))),
	}...)
	snap := slaAt(s, 20)
	require.Equal(t, int64(0), snap.SLA.BreachedOpen[fr][0])
	require.Equal(t, at(480), snap.SLA.NextBreach[fr][pc(low)])
	live(s, ev("r", events.TicketReplied, "T", 60))
	snap = slaAt(s, 61)
	require.Equal(t, [2]int64{1, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "low", "all"}))
	require.Equal(t, [2]int64{0, 0}, exactOutcome(snap, fr, OutcomeCell{"all", "urgent", "all"}))
}

// TestTransferChangesThePolicy: policy "enterprise" (team enterprise,
// first reply urgent 10m, next reply left out) before "default". An
// urgent ticket of team support opens at 0 under default (15m); moved to
// enterprise at 5 with 5 minutes counted, its deadline becomes 10; the
// reply at 12 breaches under enterprise. Its next reply wait at 20 runs
// no clock: enterprise does not measure next reply.
func TestTransferChangesThePolicy(t *testing.T) {
	cfg := DefaultConfig()
	ent := sla.DefaultPolicy()
	ent.Name = "enterprise"
	ent.Match.Teams = []string{"enterprise"}
	ent.Targets[fr][urg] = 10 * time.Minute
	ent.Targets[nr] = [events.NumPriorities]time.Duration{}
	cfg.SLA.Policies = []sla.Policy{ent, sla.DefaultPolicy()}
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(urg), team("support")),
		ev("u", events.TicketUpdated, "T", 5, update("", "enterprise", -1)),
	}...)
	snap := slaAt(s, 6)
	require.Equal(t, at(10), snap.SLA.NextBreach[fr][sc(t, snap, SLACell{"enterprise", "all", "all", "all"})])
	require.False(t, snap.SLA.HasNextBreach[fr][sc(t, snap, SLACell{"default", "all", "all", "all"})])
	live(s, ev("r", events.TicketReplied, "T", 12))
	live(s, ev("m", events.TicketCustomerMessage, "T", 20))
	snap = slaAt(s, 30)
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"enterprise", "all", "all"}))
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "enterprise"}))
	require.Equal(t, [2]int64{0, 0}, exactOutcome(snap, fr, OutcomeCell{"default", "all", "all"}))
	require.Equal(t, int64(1), slaCell(t, snap, "1h", SLACell{"all", "all", "all", "enterprise"}).Breached[fr])
	require.False(t, snap.SLA.HasNextBreach[nr][0])
	// The resolution clock (urgent 4h under enterprise too) is at risk
	// from 192, 80% of 4h.
	slaAt(s, 192)
	require.Equal(t, "enterprise", s.AtRiskTickets(AtRiskFilter{Team: "enterprise"}, 10).Tickets[0].Policy)
}

// TestBreachKeepsItsLabels: an urgent ticket of team a breaches its first
// reply at 15; moved to team b at 20, answered at 30. The breach counts
// under team a, where it happened; the backlog moves to b.
func TestBreachKeepsItsLabels(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0, pri(urg), team("a")),
		ev("u", events.TicketUpdated, "T", 20, update("", "b", -1)),
		ev("r", events.TicketReplied, "T", 30),
	}...)
	snap := slaAt(s, 31)
	require.Equal(t, int64(1), slaCell(t, snap, "1h", SLACell{"all", "all", "all", "a"}).Breached[fr])
	require.Equal(t, int64(0), slaCell(t, snap, "1h", SLACell{"all", "all", "all", "b"}).Breached[fr])
	require.Equal(t, [2]int64{0, 1}, exactOutcome(snap, fr, OutcomeCell{"all", "all", "a"}))
	require.Equal(t, int64(1), snap.Open[pcCell(t, snap, Cell{"all", "all", "b"})])
	require.Equal(t, int64(0), snap.Open[pcCell(t, snap, Cell{"all", "all", "a"})])
	// The reply counts under b, the team at its time.
	require.Equal(t, int64(1), cell(t, snap, "1h", Cell{"all", "all", "b"}).AgentReplies)
	require.Equal(t, int64(1), cell(t, snap, "1h", Cell{"all", "all", "b"}).FirstReplies)
}

// TestFirstReplyCountedOnce: one reply sent as ticket.first_reply and as
// ticket.replied (two ids, one time) is one first reply; the earlier of
// the two kinds is the first reply when their times differ.
func TestFirstReplyCountedOnce(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("o", events.TicketOpened, "T", 0),
		ev("f", events.TicketFirstReply, "T", 12),
		ev("r", events.TicketReplied, "T", 12),
		ev("o2", events.TicketOpened, "U", 0),
		ev("r2", events.TicketReplied, "U", 7),
		ev("f2", events.TicketFirstReply, "U", 9),
	}...)
	v := overall(t, slaAt(s, 20), "1h")
	require.Equal(t, int64(2), v.FirstReplies)
	require.Equal(t, int64((12+7)*60_000), v.FirstReplyMs)
	require.Equal(t, int64(2), v.AgentReplies)
	require.Equal(t, int64(0), v.NextReplies)
}

// pcCell returns the index of breakdown cell c in v.Cells.
func pcCell(t testing.TB, v *View, c Cell) int {
	t.Helper()
	for i, x := range v.Cells {
		if x == c {
			return i
		}
	}
	t.Fatalf("no cell %v", c)
	return 0
}

// TestFCRCounts: a resolution's reply count is its replies field when
// present, else its ticket.replied events before it. A reports 1 (first
// contact), B 0, C 2; D reports none after one ticket.replied (first
// contact), E none after two; F reports none and has no reply events: left
// out. So 5 resolutions count, 2 of them with one reply.
func TestFCRCounts(t *testing.T) {
	s := newState(t, 0)
	live(s, []*events.Event{
		ev("a", events.TicketOpened, "A", 0), ev("b", events.TicketOpened, "B", 0), ev("c", events.TicketOpened, "C", 0),
		ev("d", events.TicketOpened, "D", 0), ev("e", events.TicketOpened, "E", 0), ev("f", events.TicketOpened, "F", 0),
		ev("d1", events.TicketReplied, "D", 1), ev("e1", events.TicketReplied, "E", 1), ev("e2", events.TicketReplied, "E", 2),
		ev("f1", events.TicketFirstReply, "F", 2),
		ev("ax", events.TicketResolved, "A", 3, replies(1)), ev("bx", events.TicketResolved, "B", 3, replies(0)),
		ev("cx", events.TicketResolved, "C", 3, replies(2)), ev("dx", events.TicketResolved, "D", 3),
		ev("ex", events.TicketResolved, "E", 3), ev("fx", events.TicketResolved, "F", 3, handle(90_000)),
	}...)
	v := overall(t, slaAt(s, 4), "1h")
	require.Equal(t, int64(5), v.FCRResolutions)
	require.Equal(t, int64(2), v.FCROneReply)
	require.Equal(t, int64(1), v.Handled)
	require.Equal(t, int64(90_000), v.HandleMs)
}

// TestAgentSeries: with max_agents 2, the first two agents in stream
// order are admitted: a1 (at 10) and a3 (at 20); a2 (at 30) is other. T1:
// a1 replies at 10 (first reply 10m, urgent target 15m: achieved), a2
// resolves at 30 (resolution achieved), CSAT 5 at 40 for a2's resolution.
// T2: a3 replies at 20 (first reply 20m: breached). T3: a reply without
// agent_id at 5: unknown.
func TestAgentSeries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxAgents = 2
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	agent := func(a string) evOpt { return func(e *events.Event) { e.AgentID = []byte(a) } }
	live(s, []*events.Event{
		ev("o1", events.TicketOpened, "T1", 0, pri(urg)),
		ev("o2", events.TicketOpened, "T2", 0, pri(urg)),
		ev("o3", events.TicketOpened, "T3", 0, pri(urg)),
		ev("r3", events.TicketReplied, "T3", 5),
		ev("r1", events.TicketReplied, "T1", 10, agent("a1")),
		ev("r2", events.TicketFirstReply, "T2", 20, agent("a3")),
		ev("x1", events.TicketResolved, "T1", 30, agent("a2")),
		ev("s1", events.SurveyAnswered, "T1", 40, survey(events.SurveyCSAT, 5)),
	}...)
	snap := slaAt(s, 41)
	require.Equal(t, []string{"unknown", "other", "a1", "a3"}, snap.Agents)
	var w WindowValues
	for _, x := range snap.Windows {
		if x.Name == "1h" {
			w = x
		}
	}
	unknown, other, a1, a3 := w.Agents[0], w.Agents[1], w.Agents[2], w.Agents[3]
	require.Equal(t, int64(1), unknown.FirstReplies)
	require.Equal(t, int64(5*60_000), unknown.FirstReplyMs)
	require.Equal(t, int64(1), unknown.SLAAchieved[fr])
	require.Equal(t, int64(1), a1.FirstReplies)
	require.Equal(t, int64(10*60_000), a1.FirstReplyMs)
	require.Equal(t, int64(1), a1.SLAAchieved[fr])
	require.Equal(t, int64(1), a3.FirstReplies)
	require.Equal(t, int64(1), a3.SLABreached[fr])
	require.Equal(t, int64(1), other.Resolved) // a2
	require.Equal(t, int64(1), other.SLAAchieved[res])
	require.Equal(t, int64(1), other.CSATResponses)
	require.Equal(t, int64(1), other.CSATSatisfied)
	require.Equal(t, int64(0), other.FirstReplies)
	// Off by default.
	require.Nil(t, newState(t, 0).View(at(0)).Agents)
	// It survives a restore.
	restored, err := Restore(cfg, s.AppendBinary(nil))
	require.NoError(t, err)
	require.Equal(t, snap.Agents, restored.View(at(41)).Agents)
}

// TestAtRiskOrder: at risk first, soonest deadline first, then breached,
// most recent deadline last. At 14: urgent A (opened 0, due 15) and B
// (opened 2, due 17) are at risk (from 12 and 14); C (opened -10, due 5)
// has breached. The filter keeps its totals.
func TestAtRiskOrder(t *testing.T) {
	s := newState(t, -10)
	live(s, ev("c", events.TicketOpened, "C", -10, pri(urg)), ev("a", events.TicketOpened, "A", 0, pri(urg)),
		ev("b", events.TicketOpened, "B", 2, pri(urg)))
	slaAt(s, 14)
	list := s.AtRiskTickets(AtRiskFilter{SLA: "first_reply"}, 10)
	require.Equal(t, 2, list.AtRisk)
	require.Equal(t, 1, list.Breached)
	var got []string
	for _, a := range list.Tickets {
		got = append(got, a.TicketID+" "+a.State)
	}
	require.Equal(t, []string{"A at_risk", "B at_risk", "C breached"}, got)
	page := s.AtRiskTickets(AtRiskFilter{SLA: "first_reply"}, 1)
	require.Equal(t, "A", page.Tickets[0].TicketID)
	require.Equal(t, 2, page.AtRisk, "totals count beyond the page")
}
