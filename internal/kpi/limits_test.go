package kpi

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// TestTrackedLimit opens 2,000,000 distinct tickets with room for 500,000:
// memory stays bounded, the oldest go first, and every eviction is
// counted.
func TestTrackedLimit(t *testing.T) {
	n, limit := 2_000_000, 500_000
	if testing.Short() || raceEnabled {
		n, limit = 200_000, 50_000
	}
	cfg := DefaultConfig()
	cfg.MaxTracked = limit
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	e := &events.Event{}
	var id []byte
	for i := range n {
		id = strconv.AppendInt(append(id[:0], "T-"...), int64(i), 10)
		*e = events.Event{ID: id, TicketID: id, Type: events.TicketOpened, Priority: events.PriorityUrgent,
			OccurredAt: at(0) + int64(i)*int64(time.Millisecond), Replies: -1, HandleMillis: -1}
		if i%10_000 == 0 {
			s.Advance(e.OccurredAt) // as the engine does before each batch
		}
		if s.Apply(e) != Applied || s.tracked > limit {
			t.Fatalf("event %d: not applied, or %d tickets tracked over the limit of %d", i, s.tracked, limit)
		}
	}
	snap := s.View(at(0) + int64(n)*int64(time.Millisecond))
	require.LessOrEqual(t, snap.TrackedTickets, limit)
	require.Equal(t, int64(n-snap.TrackedTickets), snap.Evicted[EvictedTracked])
	// Forgotten tickets left the backlog; the newest are still tracked.
	require.Equal(t, int64(snap.TrackedTickets), snap.Open[0])
	_, ok := s.lookup([]byte("T-" + strconv.Itoa(n-1)))
	require.True(t, ok, "the newest ticket is kept")
	_, ok = s.lookup([]byte("T-0"))
	require.False(t, ok, "the oldest ticket is forgotten")
	// The windows still count every opening.
	require.Equal(t, int64(n), overall(t, snap, "1h").Opened)
	// The SLA gauges count only tracked tickets: every urgent first reply
	// clock still running is at risk or breached, none is lost.
	require.Equal(t, int64(snap.TrackedTickets), snap.SLA.AtRisk[0][pc(urg)]+snap.SLA.BreachedOpen[0][pc(urg)]+pendingClocks(s, 0))
}

// pendingClocks counts running clocks of kind k not yet at risk.
func pendingClocks(s *State, k int) int64 {
	var n int64
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if c := &tk.fs.clocks[k]; tk.log != nil && c.state == clockRunning && c.warn() > s.sla.now {
			n++
		}
	}
	return n
}

func TestHeldLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxHeld = 100
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	for i := range 1000 {
		id := "r" + strconv.Itoa(i)
		// Replies whose openings never come, a second apart: none is
		// older than the hold, so only the limit orphans them.
		s.Apply(ev(id, events.TicketFirstReply, "T"+strconv.Itoa(i), float64(i)/60))
		require.LessOrEqual(t, s.heldCount, 100)
	}
	snap := s.View(at(17))
	require.Equal(t, int64(1000-snap.HeldEvents), snap.Evicted[EvictedHeld])
	require.Equal(t, snap.Evicted[EvictedHeld], snap.Orphaned)
	// The oldest went first: the first reply's ticket is not waiting any
	// more, the last one's is.
	require.NotContains(t, s.held, "T0")
	require.Contains(t, s.held, "T999")
}

func TestSelectOldest(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 200 {
		n := 1 + rng.IntN(300)
		vs := make([]victim, n)
		for i := range vs {
			vs[i] = victim{at: int64(rng.IntN(20)), hash: rng.Uint64() % 5, tix: int32(i)}
		}
		less := func(a, b *victim) bool {
			if a.at != b.at {
				return a.at < b.at
			}
			if a.hash != b.hash {
				return a.hash < b.hash
			}
			return a.tix < b.tix
		}
		sorted := slices.Clone(vs)
		slices.SortFunc(sorted, func(a, b victim) int {
			if less(&a, &b) {
				return -1
			}
			if less(&b, &a) {
				return 1
			}
			return 0
		})
		k := 1 + rng.IntN(n)
		selectOldest(vs, k, less)
		got := slices.Clone(vs[:k])
		slices.SortFunc(got, func(a, b victim) int { return int(a.tix) - int(b.tix) })
		want := slices.Clone(sorted[:k])
		slices.SortFunc(want, func(a, b victim) int { return int(a.tix) - int(b.tix) })
		require.Equal(t, want, got, "round %d: n=%d k=%d", round, n, k)
	}
}

// TestEvictionDoesNotDependOnMemoryLayout is the case the deterministic
// simulation found: with equal opening times, a restored state (whose
// tickets sit in other slots) must evict the same ticket.
func TestEvictionDoesNotDependOnMemoryLayout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTracked = 2
	a, err := New(cfg, at(10))
	require.NoError(t, err)
	for i, id := range []string{"A", "B", "C"} {
		a.Apply(ev(id, events.TicketOpened, id, float64(i)))
	}
	b, err := Restore(cfg, a.AppendBinary(nil))
	require.NoError(t, err)
	for _, s := range []*State{a, b} {
		s.Apply(ev("D", events.TicketOpened, "D", 5, pri(urg)))
		s.Apply(ev("E", events.TicketOpened, "E", 5, pri(low)))
	}
	sa, sb := a.View(at(10)), b.View(at(10))
	require.Equal(t, sa.SLA, sb.SLA)
	require.Equal(t, byCell(sa), byCell(sb))
	require.Equal(t, sa.Evicted, sb.Evicted)
}

// TestTicketlessIDLimit: past MaxTicketlessIDs, the oldest ids of
// ticketless events are forgotten, 1% of the limit at a time, and counted.
func TestTicketlessIDLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTicketlessIDs = 1000
	s, err := New(cfg, at(0))
	require.NoError(t, err)
	survey := func(i int) *events.Event {
		return ev(fmt.Sprintf("s%d", i), events.SurveyAnswered, "", float64(i)/10, survey(events.SurveyNPS, 9))
	}
	for i := range 1001 {
		require.Equal(t, Applied, s.Apply(survey(i)))
	}
	// 1,001 ids, limit 1,000: 1 over, plus room for 1% (10) more, so the
	// 11 oldest (s0 … s10) are forgotten.
	snap := s.View(at(200))
	require.Equal(t, int64(11), snap.Evicted[EvictedIDs])
	require.Len(t, s.ticketless, 990)
	require.Equal(t, Duplicate, s.Apply(survey(11)), "still remembered")
	require.Equal(t, Applied, s.Apply(survey(10)), "forgotten: counted again")
}

// TestNewValidates: New refuses what the state cannot hold, naming the
// field: a team index is one byte, so 300 admitted teams would wrap.
func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"teams that would wrap", func(c *Config) { c.MaxTeams = 300 }, "max_teams: 300: must be from 0 to 250"},
		{"no window", func(c *Config) { c.Windows = nil }, "windows: at least one window is needed"},
		{"quantiles out of order", func(c *Config) { c.Quantiles = []float64{0.9, 0.5} }, "quantiles: must be listed in ascending order without repeats"},
		{"negative limit", func(c *Config) { c.MaxHeld = -1 }, "max_held_events: -1: must not be negative (0 is no limit)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			_, err := New(cfg, at(0))
			require.EqualError(t, err, tc.want)
		})
	}
}
