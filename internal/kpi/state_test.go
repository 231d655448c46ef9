package kpi

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// at returns t0 plus m minutes, in Unix ns.
func at(m float64) int64 { return t0.Add(time.Duration(m * float64(time.Minute))).UnixNano() }

type evOpt func(*events.Event)

func ch(c string) evOpt           { return func(e *events.Event) { e.Channel = []byte(c) } }
func team(t string) evOpt         { return func(e *events.Event) { e.Team = []byte(t) } }
func pri(p events.Priority) evOpt { return func(e *events.Event) { e.Priority = p } }
func replies(n int32) evOpt       { return func(e *events.Event) { e.Replies = n } }
func handle(ms int64) evOpt       { return func(e *events.Event) { e.HandleMillis = ms } }
func survey(k events.SurveyKind, score int8) evOpt {
	return func(e *events.Event) { e.Survey, e.Score = k, score }
}

func ev(id string, typ events.Type, ticket string, minute float64, opts ...evOpt) *events.Event {
	e := &events.Event{ID: []byte(id), Type: typ, TicketID: []byte(ticket), OccurredAt: at(minute), Replies: -1, HandleMillis: -1}
	for _, o := range opts {
		o(e)
	}
	return e
}

func newState(t testing.TB, nowMinute float64) *State {
	t.Helper()
	s, err := New(DefaultConfig(), at(nowMinute))
	require.NoError(t, err)
	return s
}

func applyAll(s *State, evs []*events.Event) {
	for _, e := range evs {
		s.Apply(e)
	}
}

// overall returns the overall values of the named window.
func overall(t testing.TB, snap *View, window string) Values {
	t.Helper()
	for _, w := range snap.Windows {
		if w.Name == window {
			require.Equal(t, Cell{"all", "all", "all"}, snap.Cells[0])
			return w.Cells[0]
		}
	}
	t.Fatalf("no window %s", window)
	return Values{}
}

func cell(t testing.TB, snap *View, window string, c Cell) Values {
	t.Helper()
	for _, w := range snap.Windows {
		if w.Name != window {
			continue
		}
		for i, sc := range snap.Cells {
			if sc == c {
				return w.Cells[i]
			}
		}
	}
	t.Fatalf("no cell %+v in window %s", c, window)
	return Values{}
}

// must returns the value of a ratio or average method, failing when it has
// no samples.
func must(t testing.TB, f func() (float64, bool)) float64 {
	t.Helper()
	v, ok := f()
	require.True(t, ok)
	return v
}

func TestSurveyKPIs(t *testing.T) {
	cases := []struct {
		name   string
		kind   events.SurveyKind
		scores []int8
		check  func(t *testing.T, v Values)
	}{
		{"CSAT share of 4–5", events.SurveyCSAT, []int8{5, 4, 3, 1, 5}, func(t *testing.T, v Values) {
			// 3 of 5 satisfied; mean (5+4+3+1+5)/5 = 3.6
			require.Equal(t, int64(5), v.CSATResponses)
			require.Equal(t, int64(3), v.CSATSatisfied)
			require.InDelta(t, 0.6, must(t, v.CSATRatio), 1e-12)
			require.InDelta(t, 3.6, must(t, v.CSATAvg), 1e-12)
		}},
		{"NPS promoters minus detractors", events.SurveyNPS, []int8{10, 9, 8, 7, 6, 0, 10, 3}, func(t *testing.T, v Values) {
			// promoters 10,9,10 = 3; detractors 6,0,3 = 3; passives 8,7
			require.Equal(t, int64(8), v.NPSResponses)
			require.Equal(t, int64(3), v.NPSPromoters)
			require.Equal(t, int64(3), v.NPSDetractors)
			require.InDelta(t, 0.0, must(t, v.NPS), 1e-12)
		}},
		{"NPS all promoters", events.SurveyNPS, []int8{9, 10}, func(t *testing.T, v Values) {
			require.InDelta(t, 100.0, must(t, v.NPS), 1e-12)
		}},
		{"NPS one detractor in four", events.SurveyNPS, []int8{9, 8, 7, 2}, func(t *testing.T, v Values) {
			// (1 − 1)/4 = 0 … promoters 1 (9), detractors 1 (2): 0
			require.InDelta(t, 0.0, must(t, v.NPS), 1e-12)
		}},
		{"NPS mostly detractors", events.SurveyNPS, []int8{0, 1, 2, 9}, func(t *testing.T, v Values) {
			// 100 × (1 − 3)/4 = −50
			require.InDelta(t, -50.0, must(t, v.NPS), 1e-12)
		}},
		{"CES mean and share of 5–7", events.SurveyCES, []int8{7, 5, 4, 1}, func(t *testing.T, v Values) {
			// mean 17/4 = 4.25; easy 2/4
			require.InDelta(t, 4.25, must(t, v.CESAvg), 1e-12)
			require.InDelta(t, 0.5, must(t, v.CESEasyRatio), 1e-12)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t, 60)
			for i, score := range tc.scores {
				s.Apply(ev(string(rune('a'+i)), events.SurveyAnswered, "", 10, survey(tc.kind, score)))
			}
			tc.check(t, overall(t, s.View(at(60)), "1h"))
		})
	}
}

func TestTicketKPIs(t *testing.T) {
	s := newState(t, 59)
	evs := []*events.Event{
		ev("o1", events.TicketOpened, "T1", 0, ch("email"), pri(events.PriorityHigh), team("billing")),
		ev("r1", events.TicketFirstReply, "T1", 10),
		ev("x1", events.TicketResolved, "T1", 30, replies(1), handle(600_000)),
		ev("o2", events.TicketOpened, "T2", 5, ch("chat")),
		ev("r2", events.TicketFirstReply, "T2", 25),
		ev("r2b", events.TicketFirstReply, "T2", 26), // not the first reply: ignored
		ev("x2", events.TicketResolved, "T2", 45, replies(3)),
		ev("re2", events.TicketReopened, "T2", 50),
		ev("o3", events.TicketOpened, "T3", 40, ch("fax")), // not allow-listed: other
		ev("x3", events.TicketResolved, "T3", 41, handle(1500)),
	}
	applyAll(s, evs)
	snap := s.View(at(59))
	v := overall(t, snap, "1h")
	require.Equal(t, int64(3), v.Opened)
	require.Equal(t, int64(3), v.Resolved)
	require.Equal(t, int64(1), v.Reopened)
	// First replies: T1 10 min, T2 20 min → mean 15 min.
	require.Equal(t, int64(2), v.FirstReplies)
	require.InDelta(t, 900.0, must(t, v.FirstReplyAvg), 1e-9)
	// Resolutions: 30, 40, 1 min → mean 71/3 min.
	require.InDelta(t, 71.0*60/3, must(t, v.ResolutionAvg), 1e-9)
	// Nearest rank of {60, 1800, 2400} s: p50 → 2nd = 1800, p99 → 3rd = 2400.
	require.InEpsilon(t, 1800, v.ResolutionQuantiles[0], 0.01)
	require.InEpsilon(t, 2400, v.ResolutionQuantiles[2], 0.01)
	// FCR: two resolutions carry replies (1 and 3): 1/2.
	require.InDelta(t, 0.5, must(t, v.FCRRatio), 1e-12)
	// Reopen ratio 1/3; handle time mean (600 + 1.5)/2 s.
	require.InDelta(t, 1.0/3, must(t, v.ReopenRatio), 1e-12)
	require.InDelta(t, 300.75, must(t, v.HandleAvg), 1e-12)
	// Backlog: T2 reopened is open; T1 and T3 resolved.
	require.Equal(t, int64(1), snap.Open[0])

	email := cell(t, snap, "1h", Cell{"email", "all", "all"})
	require.Equal(t, int64(1), email.Opened)
	require.InDelta(t, 600.0, must(t, email.FirstReplyAvg), 1e-9)
	other := cell(t, snap, "1h", Cell{"other", "all", "all"})
	require.Equal(t, int64(1), other.Opened)
	high := cell(t, snap, "1h", Cell{"all", "high", "all"})
	require.Equal(t, int64(1), high.Resolved)
	billing := cell(t, snap, "1h", Cell{"all", "all", "billing"})
	require.Equal(t, int64(1), billing.Opened)
	// 15m window at 59 covers minutes 45–59: T2's resolution (45) and reopening (50).
	v15 := overall(t, snap, "15m")
	require.Equal(t, int64(0), v15.Opened)
	require.Equal(t, int64(1), v15.Resolved)
	require.Equal(t, int64(1), v15.Reopened)
}

// script is a small lifecycle mix that exercises every fold path.
func script() []*events.Event {
	return []*events.Event{
		ev("o1", events.TicketOpened, "T1", 0, ch("email"), pri(events.PriorityUrgent), team("a")),
		ev("r1", events.TicketFirstReply, "T1", 3),
		ev("x1", events.TicketResolved, "T1", 20, replies(1)),
		ev("re1", events.TicketReopened, "T1", 25),
		ev("x1b", events.TicketResolved, "T1", 35, replies(2), handle(5000)),
		ev("s1", events.SurveyAnswered, "T1", 36, survey(events.SurveyCSAT, 5)),
		ev("o2", events.TicketOpened, "T2", 4, ch("chat"), team("b")),
		ev("o2b", events.TicketOpened, "T2", 6, ch("web"), team("c")), // a later opening changes nothing
		ev("r2", events.TicketFirstReply, "T2", 9),
		ev("s2", events.SurveyAnswered, "T2", 12, survey(events.SurveyNPS, 9)),
		ev("s0", events.SurveyAnswered, "", 13, survey(events.SurveyCES, 6)),
		ev("o3", events.TicketOpened, "T3", 30, ch("phone")),
		ev("x3", events.TicketResolved, "T3", 31, replies(1)),
		ev("s3", events.SurveyAnswered, "T3", 29, survey(events.SurveyCSAT, 2)), // before its opening: unknown
	}
}

// TestOrderDoesNotMatter applies the same events in many orders, with
// duplicates, and expects the in-order result every time.
func TestOrderDoesNotMatter(t *testing.T) {
	base := script()
	ref := newState(t, 40)
	sorted := append([]*events.Event(nil), base...)
	// Event-time order (stable for equal times).
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j].OccurredAt < sorted[j-1].OccurredAt; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	applyAll(ref, sorted)
	want := ref.View(at(40))

	// Hand-checked anchors of the reference, so that a bug shared by both
	// orders still fails.
	v := overall(t, want, "1h")
	require.Equal(t, int64(3), v.Opened)
	require.Equal(t, int64(3), v.Resolved)
	require.Equal(t, int64(1), v.Reopened)
	require.Equal(t, int64(2), v.FirstReplies)
	require.Equal(t, int64(8*60_000), v.FirstReplyMs) // 3 + 5 minutes
	require.Equal(t, int64(2), v.CSATResponses)
	require.Equal(t, int64(1), v.CSATSatisfied)
	require.Equal(t, int64(1), cell(t, want, "1h", Cell{"unknown", "all", "all"}).CSATResponses)
	require.Equal(t, int64(1), cell(t, want, "1h", Cell{"unknown", "all", "all"}).CESResponses)
	require.Equal(t, int64(1), cell(t, want, "1h", Cell{"chat", "all", "all"}).NPSResponses)
	require.Equal(t, int64(1), cell(t, want, "1h", Cell{"all", "all", "b"}).Opened)
	require.Equal(t, int64(1), want.Open[0]) // T2

	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		evs := append([]*events.Event(nil), base...)
		for _, i := range rng.Perm(len(base))[:3] {
			evs = append(evs, base[i]) // duplicates
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		s := newState(t, 40)
		applyAll(s, evs)
		got := s.View(at(40))
		require.Equal(t, byCell(want), byCell(got), "round %d", round)
		require.Equal(t, exactSLA(want), exactSLA(got), "round %d", round)
		require.Equal(t, exactTickets(want.Tickets), exactTickets(got.Tickets), "round %d", round)
		require.Equal(t, exactSurveys(want.Surveys), exactSurveys(got.Surveys), "round %d", round)
		require.Equal(t, int64(3), got.Duplicates)
	}
}

// byCell keys a snapshot's windowed values and backlog by labels, since
// teams are admitted in arrival order and so cells may be listed in
// another order.
func byCell(snap *View) map[string]map[Cell]Values {
	m := map[string]map[Cell]Values{}
	for _, w := range snap.Windows {
		m[w.Name] = map[Cell]Values{}
		for i, c := range snap.Cells {
			m[w.Name][c] = w.Cells[i]
		}
	}
	m["open"] = map[Cell]Values{}
	for i, c := range snap.Cells {
		m["open"][c] = Values{Opened: snap.Open[i]}
	}
	for st := range events.Status(events.NumStatuses) {
		name := "open " + st.String()
		m[name] = map[Cell]Values{}
		for i, c := range snap.Cells {
			m[name][c] = Values{Opened: snap.OpenByStatus[st][i]}
		}
	}
	return m
}

func TestHeldAndOrphaned(t *testing.T) {
	s := newState(t, 200)
	// A reply before its opening is held, then joins the ticket.
	s.Apply(ev("r1", events.TicketFirstReply, "T1", 10))
	snap := s.View(at(200))
	require.Equal(t, 1, snap.HeldEvents)
	s.Apply(ev("o1", events.TicketOpened, "T1", 5))
	snap = s.View(at(200))
	require.Equal(t, 0, snap.HeldEvents)
	require.Equal(t, int64(300_000), overall(t, snap, "24h").FirstReplyMs)

	// A resolution whose opening never comes is orphaned once the newest
	// event time passes it by an hour: counted as unknown, no duration.
	s.Apply(ev("x9", events.TicketResolved, "T9", 20, replies(1)))
	s.Apply(ev("o5", events.TicketOpened, "T5", 80)) // 60 after x9: not yet
	require.Equal(t, int64(0), s.View(at(200)).Orphaned)
	s.Apply(ev("o6", events.TicketOpened, "T6", 80.5))
	snap = s.View(at(200))
	require.Equal(t, int64(1), snap.Orphaned)
	v := overall(t, snap, "24h")
	require.Equal(t, int64(1), v.Resolved)
	require.Equal(t, int64(0), v.Resolutions)
	require.Equal(t, int64(0), v.FCRResolutions)
	require.Equal(t, int64(1), cell(t, snap, "24h", Cell{"all", "unknown", "all"}).Resolved)
	// Its id is still remembered.
	require.Equal(t, Duplicate, s.Apply(ev("x9", events.TicketResolved, "T9", 20, replies(1))))
}

func TestLateEvents(t *testing.T) {
	s := newState(t, 8*24*60)
	s.Apply(ev("o1", events.TicketOpened, "T1", 0))           // 8 days ago: late
	s.Apply(ev("r1", events.TicketFirstReply, "T1", 8*24*60)) // now
	snap := s.View(at(8 * 24 * 60))
	require.Equal(t, int64(1), snap.Late)
	v := overall(t, snap, "7d")
	require.Equal(t, int64(0), v.Opened)
	require.Equal(t, int64(1), v.FirstReplies)
	require.Equal(t, int64(8*24*60*60_000), v.FirstReplyMs)
	require.Equal(t, int64(1), snap.Open[0])
}

func TestResolvedTicketsAreForgotten(t *testing.T) {
	s := newState(t, 0)
	s.Apply(ev("o1", events.TicketOpened, "T1", 0))
	s.Apply(ev("x1", events.TicketResolved, "T1", 1))
	s.Apply(ev("o2", events.TicketOpened, "T2", 2))
	require.Equal(t, 2, s.View(at(2)).TrackedTickets)
	day := 24 * 60.0
	s.Apply(ev("o3", events.TicketOpened, "T3", 9*day+1))
	// T1 resolved more than 8 days before the newest event: forgotten. T2
	// is open and stays.
	require.Equal(t, 2, s.View(at(9*day+1)).TrackedTickets)
	require.Equal(t, int64(2), s.View(at(9*day + 1)).Open[0])
}

// BenchmarkApply feeds a steady stream of ticket lifecycles (opening, first
// reply, resolution, survey; 1 s apart in event time) with unique ids, so
// resolved tickets are forgotten as new ones arrive.
func BenchmarkApply(b *testing.B) {
	s, err := New(DefaultConfig(), at(0))
	require.NoError(b, err)
	stream := lifecycles{start: t0.UnixNano(), step: int64(time.Second)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := stream.event(i)
		if i%1000 == 0 {
			s.Advance(e.OccurredAt)
		}
		s.Apply(e)
	}
}

// lifecycles is the benchmarks' event stream: tickets of four events
// (opening, first reply, resolution with one reply, CSAT answer), step
// apart in event time, with unique ids, channels, teams and priorities
// taking turns. It reuses one Event and its buffers.
type lifecycles struct {
	e           events.Event
	id, tid     []byte
	start, step int64
}

func (l *lifecycles) event(i int) *events.Event {
	tk := i / 4
	l.id = strconv.AppendInt(append(l.id[:0], "e-"...), int64(i), 10)
	l.tid = strconv.AppendInt(append(l.tid[:0], "T-"...), int64(tk), 10)
	l.e = events.Event{ID: l.id, TicketID: l.tid, Replies: -1, HandleMillis: -1, OccurredAt: l.start + int64(i)*l.step}
	switch i % 4 {
	case 0:
		chans := [...]string{"email", "chat", "web"}
		teams := [...]string{"billing", "tech", "sales"}
		l.e.Type, l.e.Priority = events.TicketOpened, events.Priority(tk%events.NumPriorities)
		l.e.Channel, l.e.Team = append(l.e.Channel[:0], chans[tk%3]...), append(l.e.Team[:0], teams[tk%3]...)
	case 1:
		l.e.Type = events.TicketFirstReply
	case 2:
		l.e.Type, l.e.Replies, l.e.HandleMillis = events.TicketResolved, 1, 300_000
	case 3:
		l.e.Type, l.e.Survey, l.e.Score = events.SurveyAnswered, events.SurveyCSAT, 4
	}
	return &l.e
}

// BenchmarkMemoryPerTicket tracks 1,000,000 tickets over a week (each
// opened, replied to and resolved, 200 ms apart in event time, so three
// event ids are remembered per ticket and every window holds samples) and
// reports the live heap per tracked ticket, windows and SLA clocks
// included.
func BenchmarkMemoryPerTicket(b *testing.B) {
	const tickets = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := New(DefaultConfig(), at(0))
		require.NoError(b, err)
		e := &events.Event{}
		var id, tid []byte
		for i := range 3 * tickets {
			tk := i / 3
			id = strconv.AppendInt(append(id[:0], "evt-"...), int64(i), 10)
			tid = strconv.AppendInt(append(tid[:0], "T-"...), int64(tk), 10)
			*e = events.Event{ID: id, TicketID: tid, Replies: -1, HandleMillis: -1,
				OccurredAt: at(0) + int64(i)*int64(200*time.Millisecond)}
			if i%1000 == 0 {
				s.Advance(e.OccurredAt)
			}
			switch i % 3 {
			case 0:
				e.Type, e.Channel, e.Team = events.TicketOpened, []byte("email"), []byte("billing")
			case 1:
				e.Type = events.TicketFirstReply
			case 2:
				e.Type, e.Replies = events.TicketResolved, 1
			}
			s.Apply(e)
		}
		s.View(e.OccurredAt)
		require.Equal(b, tickets, s.tracked)
		reportMemory(b, s, tickets, &before)
	}
}

// slaCell returns the windowed SLA outcomes of SLA cell c in the named window.
func slaCell(t testing.TB, snap *View, window string, c SLACell) SLAValues {
	t.Helper()
	for _, w := range snap.Windows {
		if w.Name != window {
			continue
		}
		for i, sc := range snap.SLACells {
			if sc == c {
				return w.SLA[i]
			}
		}
	}
	t.Fatalf("no SLA cell %v in window %s", c, window)
	return SLAValues{}
}
