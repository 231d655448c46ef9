package kpi

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// randomV2Tickets returns the events of n random tickets with v2 lives,
// in event-time order: openings, first replies as either type (some as
// both), customer messages and replies, pending and on-hold periods,
// priority, team and channel updates, resolutions with and without
// replies, reopenings, surveys. Times fall within the first span minutes
// after t0, at second precision with ties.
func randomV2Tickets(rng *rand.Rand, n int, span float64) []*events.Event {
	var out []*events.Event
	seq := 0
	add := func(typ events.Type, ticket string, m float64, opts ...evOpt) {
		seq++
		out = append(out, ev(fmt.Sprintf("e%d", seq), typ, ticket, float64(int(m*60))/60, opts...))
	}
	teams := []string{"ent", "support", "billing"}
	channels := []string{"email", "chat", "fax"}
	for i := range n {
		id := fmt.Sprintf("T%d", i)
		m := rng.Float64() * span * 0.6
		add(events.TicketOpened, id, m, pri(events.Priority(rng.IntN(events.NumPriorities))),
			team(teams[rng.IntN(len(teams))]), ch(channels[rng.IntN(len(channels))]))
		step := func() float64 { m += rng.ExpFloat64() * 20; return m }
		if rng.Float64() < 0.2 {
			add(events.TicketCustomerMessage, id, step())
		}
		for round := range 3 {
			if rng.Float64() < 0.15 {
				add(events.TicketUpdated, id, step(), update(
					[]string{"", "chat"}[rng.IntN(2)], []string{"", "ent", "billing"}[rng.IntN(3)], rng.IntN(events.NumPriorities+1)-1))
			}
			at := step()
			switch {
			case round > 0 || rng.Float64() < 0.6:
				add(events.TicketReplied, id, at)
				if round == 0 && rng.Float64() < 0.3 {
					add(events.TicketFirstReply, id, at) // the same reply sent twice
				}
			default:
				add(events.TicketFirstReply, id, at)
			}
			if rng.Float64() < 0.4 {
				add(events.TicketStatusChanged, id, step(), status(events.Status(1+rng.IntN(2))))
			}
			if rng.Float64() < 0.5 {
				break
			}
			add(events.TicketCustomerMessage, id, step())
			if rng.Float64() < 0.5 {
				add(events.TicketStatusChanged, id, step(), status(events.StatusOpen))
			}
		}
		if rng.Float64() < 0.75 {
			opts := []evOpt{}
			if rng.Float64() < 0.3 {
				opts = append(opts, replies(int32(rng.IntN(3))))
			}
			if rng.Float64() < 0.5 {
				opts = append(opts, handle(rng.Int64N(1<<40)))
			}
			add(events.TicketResolved, id, step(), opts...)
			if rng.Float64() < 0.2 {
				add(events.TicketReopened, id, step())
				add(events.TicketCustomerMessage, id, step())
				if rng.Float64() < 0.5 {
					add(events.TicketResolved, id, step(), handle(rng.Int64N(3_600_000)))
				}
			}
			if rng.Float64() < 0.3 {
				add(events.SurveyAnswered, id, step(), survey(events.SurveyCSAT, int8(1+rng.IntN(5))))
			}
		}
	}
	for _, e := range out {
		e.OccurredAt = min(e.OccurredAt, at(span))
	}
	return out
}

// v2Config has two policies, one matching team ent with its own business
// hours and pauses, and a long hold, so that any order of the events
// arrives within it.
func v2Config(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.HoldFor = 24 * time.Hour
	ent := sla.DefaultPolicy()
	ent.Name = "enterprise"
	ent.Match.Teams = []string{"ent"}
	ent.Targets[fr][urg] = 10 * time.Minute
	ent.Targets[nr][nrm] = 45 * time.Minute
	ent.PauseOn[fr] = sla.StatusesOf(events.StatusOnHold)
	var week [7][]sla.Interval
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []sla.Interval{{Start: 8 * 60, End: 12 * 60}, {Start: 13 * 60, End: 17 * 60}}
	}
	cal, err := sla.NewCalendar(sla.Schedule{Location: time.UTC, Week: week})
	require.NoError(t, err)
	ent.Hours = cal
	cfg.SLA.Policies = []sla.Policy{ent, sla.DefaultPolicy()}
	return cfg
}

// TestV2OrderDoesNotMatter: random v2 tickets applied in event-time order
// and in shuffled orders with duplicates, with the wall clock fixed after
// the last event or moving with the arrivals, give identical metrics:
// windows, backlog by status, SLA gauges, and exact cumulative values.
func TestV2OrderDoesNotMatter(t *testing.T) {
	const span = 600.0 // minutes
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		base := randomV2Tickets(rng, 60, span)
		end := at(span + 1)
		reference := func() *View {
			s, err := New(v2Config(t), at(0))
			require.NoError(t, err)
			ordered := append([]*events.Event(nil), base...)
			sortByTime(ordered)
			live(s, ordered...)
			s.Advance(end)
			return s.View(end)
		}()
		require.Positive(t, overall(t, reference, "24h").NextReplies, "seed %d exercises next replies", seed)
		for round := range 6 {
			evs := append([]*events.Event(nil), base...)
			for _, i := range rng.Perm(len(base))[:5] {
				evs = append(evs, base[i])
			}
			rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			s, err := New(v2Config(t), at(0))
			require.NoError(t, err)
			if round%2 == 0 {
				s.Advance(end) // everything arrives after the fact
				applyAll(s, evs)
			} else {
				// The wall clock moves with the newest arrival, as on a
				// live stream that delivers out of order.
				var now int64
				for _, e := range evs {
					now = max(now, e.OccurredAt)
					s.Advance(now)
					s.Apply(e)
				}
			}
			s.Advance(end)
			got := s.View(end)
			require.Equal(t, byCell(reference), byCell(got), "seed %d round %d", seed, round)
			require.Equal(t, exactSLA(reference), exactSLA(got), "seed %d round %d", seed, round)
			require.Equal(t, exactTickets(reference.Tickets), exactTickets(got.Tickets), "seed %d round %d", seed, round)
			require.Equal(t, int64(5), got.Duplicates)
		}
	}
}

func sortByTime(evs []*events.Event) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].OccurredAt < evs[j-1].OccurredAt; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}
