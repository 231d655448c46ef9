package kpi

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// TestExpiredEvents: once a resolved ticket and a ticketless survey are
// forgotten (8 days behind the newest event), re-sends of their events
// are expired: counted, and nothing else changes; no phantom ticket comes
// back, no orphan is counted.
func TestExpiredEvents(t *testing.T) {
	day := 24 * 60.0
	s := newState(t, 0)
	o1 := ev("o1", events.TicketOpened, "T1", 0, pri(urg))
	r1 := ev("r1", events.TicketFirstReply, "T1", 10)
	x1 := ev("x1", events.TicketResolved, "T1", 60, replies(1))
	s0 := ev("s0", events.SurveyAnswered, "", 61, survey(events.SurveyCSAT, 5))
	applyAll(s, []*events.Event{o1, r1, x1, s0})
	// Nine days later: T1 (last event at 01:00 on day 0) and the survey's
	// id lie more than 8 days behind the newest event, and are forgotten.
	s.Apply(ev("o2", events.TicketOpened, "T2", 9*day))
	now := at(9*day + 1)
	before := s.View(now)
	require.Equal(t, 1, before.TrackedTickets)
	require.Equal(t, int64(1), before.Open[0]) // T2

	for _, e := range []*events.Event{o1, x1, r1, s0} {
		require.Equal(t, Expired, s.Apply(e), "%s", e.ID)
	}
	after := s.View(now)
	require.Equal(t, int64(4), after.Expired)
	before.Expired = 4
	require.Equal(t, before, after, "an expired event changes nothing but the expired count")

	// An event for an untracked ticket within the id memory is not
	// expired: a reply 7 days behind waits for its opening.
	require.Equal(t, Applied, s.Apply(ev("r3", events.TicketFirstReply, "T3", 2*day)))
	require.Equal(t, 1, s.View(now).HeldEvents)
}

// ledgerValues returns every cumulative value of a snapshot by name, and
// checks that each histogram is one of a real multiset of samples.
func ledgerValues(t *testing.T, snap *View) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for ty, n := range snap.Applied {
		m[fmt.Sprint("applied ", ty)] = n
	}
	for r, n := range snap.Rejected {
		m["rejected "+string(r)] = n
	}
	m["duplicates"], m["late"], m["orphaned"], m["expired"] = snap.Duplicates, snap.Late, snap.Orphaned, snap.Expired
	m["evicted tracked"], m["evicted held"] = snap.Evicted[EvictedTracked], snap.Evicted[EvictedHeld]
	for _, tt := range snap.Tickets {
		c := tt.Channel + "/" + tt.Priority + "/" + tt.Team
		m["opened "+c], m["resolved "+c], m["reopened "+c] = tt.Opened, tt.Resolved, tt.Reopened
		m["opened corrected "+c], m["resolved corrected "+c], m["reopened corrected "+c] = tt.OpenedCorrected, tt.ResolvedCorrected, tt.ReopenedCorrected
	}
	for _, sc := range snap.Surveys {
		m[fmt.Sprintf("survey %s %d", sc.Kind, sc.Score)] = sc.Count
		m[fmt.Sprintf("survey corrected %s %d", sc.Kind, sc.Score)] = sc.Corrected
	}
	for k := range snap.SLA.Outcomes {
		for p := range events.Priority(events.NumPriorities) {
			for o := range snap.SLA.Outcomes[k][pc(p)] {
				m[fmt.Sprintf("outcome %d %d %d", k, p, o)] = snap.SLA.Outcomes[k][pc(p)][o]
				m[fmt.Sprintf("outcome corrected %d %d %d", k, p, o)] = snap.SLA.OutcomesCorrected[k][pc(p)][o]
			}
		}
	}
	for name, hs := range map[string][]DurationHistogram{"first reply": snap.FirstReplyDurations, "resolution": snap.ResolutionDurations} {
		for _, h := range hs {
			c := name + " " + h.Channel + "/" + h.Priority
			require.True(t, slices.IsSorted(h.Buckets), "%s: cumulative buckets", c)
			require.LessOrEqual(t, h.Buckets[len(h.Buckets)-1], h.Count, c)
			native := int64(h.NativeZero)
			for i, n := range h.Native {
				m[fmt.Sprintf("%s native %d", c, i)] = n
				native += n
			}
			require.Equal(t, int64(h.Count), native, "%s: native buckets hold every sample", c)
			m[c+" count"], m[c+" sum ms"], m[c+" corrected"] = int64(h.Count), int64(h.SumSeconds*1000+0.5), int64(h.Corrected)
			for i, b := range h.Buckets {
				m[fmt.Sprintf("%s bucket %d", c, i)] = int64(b)
			}
		}
	}
	return m
}

// requireNoFall fails when a value of next is lower than in prev (a series
// missing from next counts as 0).
func requireNoFall(t *testing.T, prev, next map[string]int64, msg string) {
	t.Helper()
	for k, v := range prev {
		require.GreaterOrEqual(t, next[k], v, "%s: %s fell", msg, k)
	}
}

// ledgerStream is a seeded live stream: tickets with openings (a few
// re-opened with another breakdown, earlier, so the ticket's past
// changes), first replies, resolutions, reopenings and surveys; events
// moved a few places out of order (within the hold) and some sent twice;
// each message stored by the stream a little after the last.
type ledgerStream struct {
	events []*events.Event
	stored []int64 // when the stream stored each
}

func newLedgerStream(rng *rand.Rand, tickets int) *ledgerStream {
	type timed struct {
		e  *events.Event
		at int64
	}
	var evs []timed
	add := func(e *events.Event) { evs = append(evs, timed{e, e.OccurredAt}) }
	pris := []events.Priority{events.PriorityUrgent, events.PriorityHigh, events.PriorityNormal, events.PriorityLow}
	chans := []string{"email", "chat", "phone"}
	for i := range tickets {
		id := fmt.Sprintf("T%d", i)
		o := rng.Float64() * 300 // minutes
		opts := []evOpt{pri(pris[rng.IntN(len(pris))]), ch(chans[rng.IntN(len(chans))]), team(fmt.Sprint("t", rng.IntN(3)))}
		add(ev(id+"o", events.TicketOpened, id, o, opts...))
		if rng.IntN(8) == 0 {
			// An earlier opening with another breakdown, sent later.
			e := ev(id+"o0", events.TicketOpened, id, o-rng.Float64()*10, pri(pris[rng.IntN(len(pris))]), ch(chans[rng.IntN(len(chans))]))
			evs = append(evs, timed{e, e.OccurredAt + int64(20*time.Minute)})
		}
		r := o + rng.ExpFloat64()*12
		add(ev(id+"r", events.TicketFirstReply, id, r))
		if rng.IntN(6) == 0 {
			// An earlier reply, sent a minute after the first one.
			evs = append(evs, timed{ev(id+"r2", events.TicketFirstReply, id, o+rng.Float64()*(r-o)), at(r + 1)})
		}
		x := r + rng.ExpFloat64()*90
		add(ev(id+"x", events.TicketResolved, id, x, replies(int32(rng.IntN(3)))))
		if rng.IntN(5) == 0 {
			add(ev(id+"re", events.TicketReopened, id, x+rng.Float64()*30))
			add(ev(id+"x2", events.TicketResolved, id, x+30+rng.Float64()*200))
		}
		if rng.IntN(3) == 0 {
			add(ev(id+"s", events.SurveyAnswered, id, x+rng.Float64()*20, survey(events.SurveyCSAT, int8(1+rng.IntN(5)))))
		}
	}
	// Sent in the order of their send time, then a few moved later.
	slices.SortStableFunc(evs, func(a, b timed) int { return cmp.Compare(a.at, b.at) })
	for i := range evs {
		if j := i + rng.IntN(4); rng.IntN(5) == 0 && j < len(evs) {
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	st := &ledgerStream{}
	storedAt := t0.UnixNano()
	for _, x := range evs {
		storedAt = max(storedAt, x.at) + int64(rng.IntN(20))*int64(time.Second)
		st.events = append(st.events, x.e)
		st.stored = append(st.stored, storedAt)
		if rng.IntN(20) == 0 {
			storedAt += int64(time.Second)
			st.events = append(st.events, x.e) // a duplicate
			st.stored = append(st.stored, storedAt)
		}
	}
	return st
}

// TestLedgerNeverFalls runs random live streams through a state as the
// engine does (batches; the wall clock read per batch; each message's
// stored time; ticks between batches once caught up), reads every
// cumulative value after each batch and after each tick, and requires that
// none ever falls. Then it restores the state from a snapshot taken at a
// random batch and replays the rest as a restart does (one later wall
// clock, no ticks while catching up): after every replayed batch its
// values equal the first run's at the same point, so from the moment the
// restored state has caught up (when its counters are first served) it
// serves exactly what the first run served, never less.
func TestLedgerNeverFalls(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 8))
		st := newLedgerStream(rng, 40+rng.IntN(40))
		var batches [][2]int // [from, to) message indices
		for i := 0; i < len(st.events); {
			n := min(1+rng.IntN(8), len(st.events)-i)
			batches = append(batches, [2]int{i, i + n})
			i += n
		}
		cfg := DefaultConfig()
		s, err := New(cfg, st.stored[0])
		require.NoError(t, err)
		cut := rng.IntN(len(batches))
		var snapshot []byte
		var before []map[string]int64 // per batch, before its tick
		prev := map[string]int64{}
		for b, r := range batches {
			now := st.stored[r[1]-1] // the batch is read once its last message is stored
			s.Advance(now)
			for i := r[0]; i < r[1]; i++ {
				s.Arrive(min(st.stored[i], now))
				s.Apply(st.events[i])
			}
			v := ledgerValues(t, s.View(now))
			requireNoFall(t, prev, v, fmt.Sprintf("seed %d after batch %d", seed, b))
			before = append(before, v)
			// Caught up: the wall clock ticks on, up to the next message.
			next := now + int64(time.Minute)
			if r[1] < len(st.events) {
				next = st.stored[r[1]]
			}
			tick := now + rng.Int64N(next-now+1)
			s.Tick(tick)
			prev = ledgerValues(t, s.View(tick))
			requireNoFall(t, v, prev, fmt.Sprintf("seed %d tick after batch %d", seed, b))
			if b == cut {
				snapshot = s.AppendBinary(nil)
			}
		}

		restored, err := Restore(cfg, snapshot)
		require.NoError(t, err)
		later := st.stored[len(st.stored)-1] + int64(6*time.Hour) // the restart's wall clock
		for b := cut + 1; b < len(batches); b++ {
			restored.Advance(later)
			for i := batches[b][0]; i < batches[b][1]; i++ {
				restored.Arrive(min(st.stored[i], later))
				restored.Apply(st.events[i])
			}
			require.Equal(t, before[b], ledgerValues(t, restored.View(later)), "seed %d: replay of batch %d (snapshot after batch %d)", seed, b, cut)
		}
		// Both go on with the same wall clock: equal, gauges included.
		end := later + int64(time.Hour)
		s.Tick(end)
		restored.Tick(end)
		a, b := s.View(end), restored.View(end)
		require.Equal(t, ledgerValues(t, a), ledgerValues(t, b), "seed %d", seed)
		require.Equal(t, byCell(a), byCell(b), "seed %d", seed)
		require.Equal(t, a.SLA, b.SLA, "seed %d", seed)
	}
}

// TestLedgerCorrections works one correction of each kind by hand.
func TestLedgerCorrections(t *testing.T) {
	s := newState(t, 0)
	// T1 opened at 08:10 by email, first reply at 08:20: a 10-minute
	// sample under email/normal.
	s.Apply(ev("o1", events.TicketOpened, "T1", 10, ch("email")))
	s.Apply(ev("r1", events.TicketFirstReply, "T1", 20))
	// An earlier opening at 08:05 by chat arrives: T1 is a chat ticket,
	// opened at 08:05, with a 15-minute first reply.
	s.Apply(ev("o0", events.TicketOpened, "T1", 5, ch("chat")))
	snap := s.View(at(30))
	// The windowed count moved from email to chat.
	require.Equal(t, int64(0), cell(t, snap, "1h", Cell{"email", "all", "all"}).Opened)
	require.Equal(t, int64(1), cell(t, snap, "1h", Cell{"chat", "all", "all"}).Opened)
	// The counters keep the email opening, add the chat one, and count
	// the email one as corrected.
	require.Equal(t, []TicketTotals{
		{Channel: "email", Priority: "normal", Team: "unknown", Opened: 1, OpenedCorrected: 1},
		{Channel: "chat", Priority: "normal", Team: "unknown", Opened: 1},
	}, snap.Tickets)
	// The histograms keep the 10-minute sample under email (corrected)
	// and add the 15-minute one under chat.
	require.Len(t, snap.FirstReplyDurations, 2)
	email, chat := snap.FirstReplyDurations[0], snap.FirstReplyDurations[1]
	require.Equal(t, []string{"email", "chat"}, []string{email.Channel, chat.Channel})
	require.Equal(t, uint64(1), email.Count)
	require.Equal(t, 600.0, email.SumSeconds)
	require.Equal(t, uint64(1), email.Corrected)
	require.Equal(t, uint64(1), chat.Count)
	require.Equal(t, 900.0, chat.SumSeconds)
	require.Equal(t, uint64(0), chat.Corrected)
}
