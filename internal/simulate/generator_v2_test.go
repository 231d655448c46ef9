package simulate

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// lifeCounts counts what checkLifecycleV2 saw in the lives of tickets.
type lifeCounts struct {
	tickets, answered, resolvedForGood int
	twins, earlyMessages               int // ticket.first_reply beside ticket.replied; messages before the first reply

	messages        int // customer messages after the first reply: each starts a wait
	waitsByReply    int // waits a ticket.replied ended
	waitsByResolved int // waits a ticket.resolved ended
	waitsRunning    int // waits the stream's end cut short

	pendingStarted, pendingByOpen, pendingByResolved, pendingRunning int
	holdStarted, holdByOpen, holdRunning                             int

	updates, escalations, transfers int
	resolutions, withReplies, fcr   int // fcr: resolutions after exactly one ticket.replied
	reopenings                      int

	nextReplies, lateNextReplies int // samples of next reply time, those over the default target
}

func (c *lifeCounts) add(o lifeCounts) {
	c.tickets += o.tickets
	c.answered += o.answered
	c.resolvedForGood += o.resolvedForGood
	c.twins += o.twins
	c.earlyMessages += o.earlyMessages
	c.messages += o.messages
	c.waitsByReply += o.waitsByReply
	c.waitsByResolved += o.waitsByResolved
	c.waitsRunning += o.waitsRunning
	c.pendingStarted += o.pendingStarted
	c.pendingByOpen += o.pendingByOpen
	c.pendingByResolved += o.pendingByResolved
	c.pendingRunning += o.pendingRunning
	c.holdStarted += o.holdStarted
	c.holdByOpen += o.holdByOpen
	c.holdRunning += o.holdRunning
	c.updates += o.updates
	c.escalations += o.escalations
	c.transfers += o.transfers
	c.resolutions += o.resolutions
	c.withReplies += o.withReplies
	c.fcr += o.fcr
	c.reopenings += o.reopenings
	c.nextReplies += o.nextReplies
	c.lateNextReplies += o.lateNextReplies
}

// nextReplyTargets are the contract's default next_reply targets.
var nextReplyTargets = map[string]time.Duration{"urgent": time.Hour, "high": 2 * time.Hour, "normal": 8 * time.Hour, "low": 24 * time.Hour}

// checkLifecycleV2 checks the events of one ticket of a v2 stream, in
// production order, against the rules of contract v2 and the model of
// conversation.go, and counts what it saw. Unless complete, the stream may
// end anywhere in the ticket's life.
func checkLifecycleV2(life []wireEvent, teams []string, complete bool) (lifeCounts, error) {
	type numbered struct {
		n int
		e wireEvent
	}
	ordered := make([]numbered, len(life))
	for i, e := range life {
		n, err := eventNumber(*e.ID)
		if err != nil {
			return lifeCounts{}, err
		}
		ordered[i] = numbered{n, e}
	}
	slices.SortFunc(ordered, func(a, b numbered) int { return a.n - b.n })

	var (
		c                      lifeCounts
		prio, team             string
		opened, resolved       bool
		firstReply, firstAgent string // occurred_at and agent of the first ticket.replied
		status                 = "open"
		waitFrom               time.Time // start of the running wait; zero for none
		replies                int       // ticket.replied events since the opening
		reopened, twin         bool
		wantMessage            bool // the reopening's customer message is due
		prev                   string
	)
	for _, o := range ordered {
		e := o.e
		typ, at := *e.Type, *e.OccurredAt
		fail := func(format string, args ...any) (lifeCounts, error) {
			return c, fmt.Errorf("%s at %s (status %s, resolved %v): %s", typ, at, status, resolved, fmt.Sprintf(format, args...))
		}
		if !opened && typ != "ticket.opened" {
			return fail("before the opening")
		}
		if at < prev { // same width, so string order is time order
			return fail("before the previous event at %s", prev)
		}
		prev = at
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return fail("%v", err)
		}
		if wantMessage && typ != "ticket.customer_message" {
			return fail("after a reopening, want the customer message that reopened it")
		}
		if resolved && typ != "ticket.reopened" && typ != "survey.answered" {
			return fail("after the resolution")
		}
		switch typ {
		case "ticket.opened":
			if opened {
				return fail("opened twice")
			}
			opened, prio, team = true, *e.Priority, *e.Team
			c.tickets++
		case "ticket.replied":
			if status != "open" {
				return fail("reply on a ticket that is not open")
			}
			replies++
			switch {
			case firstReply == "":
				firstReply, firstAgent = at, *e.AgentID
				c.answered++
			case waitFrom.IsZero():
				return fail("a later reply that ends no wait")
			default:
				c.waitsByReply++
				c.nextReplies++
				if t.Sub(waitFrom) > nextReplyTargets[prio] {
					c.lateNextReplies++
				}
				waitFrom = time.Time{}
			}
		case "ticket.first_reply":
			switch {
			case twin:
				return fail("twice")
			case at != firstReply || *e.AgentID != firstAgent:
				return fail("not the first ticket.replied (%s by %s) sent again", firstReply, firstAgent)
			}
			twin = true
			c.twins++
		case "ticket.customer_message":
			wantMessage = false
			switch {
			case firstReply == "":
				c.earlyMessages++
			case !waitFrom.IsZero():
				return fail("while a wait runs: the previous message got no reply or resolution")
			default:
				c.messages++
				waitFrom = t
			}
		case "ticket.status_changed":
			to := *e.Status
			switch from := status + "→" + to; {
			case from == "open→pending" && firstReply != "" && waitFrom.IsZero():
				c.pendingStarted++
			case from == "pending→open":
				c.pendingByOpen++
			case from == "open→on_hold" && !waitFrom.IsZero():
				c.holdStarted++
			case from == "on_hold→open":
				c.holdByOpen++
			default:
				return fail("%s (wait running: %v)", from, !waitFrom.IsZero())
			}
			status = to
		case "ticket.updated":
			if firstReply == "" || e.Channel != nil {
				return fail("before the first reply, or of the channel")
			}
			c.updates++
			if e.Priority != nil {
				if want := map[string]string{"normal": "high", "high": "urgent"}[prio]; *e.Priority != want {
					return fail("priority %s→%s, want one step up from normal or high", prio, *e.Priority)
				}
				prio = *e.Priority
				c.escalations++
			}
			if e.Team != nil {
				if *e.Team == team || !slices.Contains(teams, *e.Team) {
					return fail("team %s→%s", team, *e.Team)
				}
				team = *e.Team
				c.transfers++
			}
		case "ticket.resolved":
			c.resolutions++
			if replies == 1 {
				c.fcr++
			}
			if e.Replies != nil {
				if *e.Replies != replies {
					return fail("replies %d, but %d ticket.replied events", *e.Replies, replies)
				}
				c.withReplies++
			}
			if (e.AgentID != nil) != (firstReply != "") {
				return fail("agent_id present: %v, answered: %v", e.AgentID != nil, firstReply != "")
			}
			if !waitFrom.IsZero() {
				c.waitsByResolved++
				waitFrom = time.Time{}
			}
			switch status {
			case "pending":
				c.pendingByResolved++
			case "on_hold":
				return fail("on hold")
			}
			resolved = true
		case "ticket.reopened":
			if !resolved || reopened || firstReply == "" {
				return fail("not after a first resolution of an answered ticket")
			}
			resolved, reopened, wantMessage, status = false, true, true, "open"
			c.reopenings++
		case "survey.answered":
			if !resolved {
				return fail("before the resolution")
			}
		default:
			return fail("unknown type")
		}
	}
	if !waitFrom.IsZero() {
		c.waitsRunning++
	}
	switch {
	case resolved:
		c.resolvedForGood++
	case status == "pending":
		c.pendingRunning++
	case status == "on_hold":
		c.holdRunning++
	}
	if complete && (!resolved || wantMessage) {
		return c, fmt.Errorf("the life ends unresolved or in a reopening")
	}
	return c, nil
}

// TestGeneratorV2Lives runs a few thousand tickets of the v2 stream to the
// end of their lives and checks each life, the exact balances that follow
// from the contract (every wait and every pending or on-hold period that
// starts ends), and the shares of the model.
func TestGeneratorV2Lives(t *testing.T) {
	const tickets = 4000
	for _, cfg := range []Config{
		DefaultConfig(),
		{Seed: 11, TicketsPerHour: 30, DuplicateShare: 0.1, DisorderShare: 0.1, Teams: []string{"a", "b"}},
	} {
		t.Run(fmt.Sprint(cfg.Seed), func(t *testing.T) {
			t.Parallel()
			teams := cfg.Teams
			if len(teams) == 0 {
				teams = DefaultConfig().Teams
			}
			g := NewGenerator(cfg)
			g.ticketLimit = tickets
			lives := map[string][]wireEvent{}
			seen := map[string]bool{}
			opened := map[string]bool{}
			prios := map[string]int{}
			// Once only the ticketless surveys are scheduled, the
			// messages still queued are the last of the tickets.
			for drain := 0; drain < 2*(maxDisorderDistance+maxRetryDistance); {
				if len(g.sched) == 1 {
					drain++
				}
				m := g.Next()
				e, err := checkContract(m, DefaultConfig().Channels, teams, true)
				require.NoError(t, err)
				if seen[m.MsgID] || e.TicketID == nil {
					continue
				}
				seen[m.MsgID] = true
				ticket := *e.TicketID
				if *e.Type == "ticket.opened" {
					opened[ticket] = true
					prios[*e.Priority]++
				}
				lives[ticket] = append(lives[ticket], e)
			}
			require.Len(t, lives, tickets)
			require.Len(t, opened, tickets)

			var c lifeCounts
			for ticket, life := range lives {
				got, err := checkLifecycleV2(life, teams, true)
				require.NoError(t, err, "ticket %s", ticket)
				c.add(got)
			}
			t.Logf("%+v", c)

			// Exact: every life ran to its end.
			require.Equal(t, tickets, c.tickets)
			require.Equal(t, tickets, c.resolvedForGood)
			require.Equal(t, c.tickets+c.reopenings, c.resolutions)
			require.Equal(t, c.messages, c.waitsByReply+c.waitsByResolved, "every customer message after the first reply gets a reply or a resolution")
			require.Zero(t, c.waitsRunning)
			require.Equal(t, c.pendingStarted, c.pendingByOpen+c.pendingByResolved, "every pending period ends")
			require.Equal(t, c.holdStarted, c.holdByOpen, "every on-hold period ends with open")
			require.Zero(t, c.pendingRunning+c.holdRunning)
			require.Equal(t, c.waitsByReply, c.nextReplies)

			// Shares, of the tickets or events they apply to.
			share := func(what string, want float64, got, of int, epsilon float64) {
				t.Helper()
				require.InEpsilon(t, want, float64(got)/float64(of), epsilon, "%s: %d of %d", what, got, of)
			}
			share("answered", replyShare, c.answered, tickets, 0.02)
			share("first replies also sent as ticket.first_reply", twinShare, c.twins, c.answered, 0.1)
			share("customer messages before the first reply", earlyMessageShare, c.earlyMessages, tickets, 0.15)
			share("resolutions with replies", keepRepliesShare, c.withReplies, c.resolutions, 0.1)
			share("reopenings", replyShare*reopenShare, c.reopenings, tickets, 0.2)
			share("escalations", escalateShare*replyShare*float64(prios["normal"]+prios["high"])/tickets, c.escalations, tickets, 0.25)
			share("transfers", transferShare, c.transfers, c.answered, 0.25)
			messages, _ := meanOf(messageWeights())
			reopenMessages, _ := meanOf(reopenMessageWeights())
			share("customer messages after the first reply", messages+reopenShare*(1+reopenMessages), c.messages, c.answered, 0.1)
			// One reply: no customer message, or one that was a thanks.
			_, none := meanOf(messageWeights())
			one := messageWeights()[1] / messageWeights()[0] * none
			share("first contact resolutions", replyShare*(none+one*thanksShare)/(1+replyShare*reopenShare), c.fcr, c.resolutions, 0.1)
			// Most next replies meet the default target; holds and the
			// tail make some late.
			late := float64(c.lateNextReplies) / float64(c.nextReplies)
			require.Greater(t, c.lateNextReplies, 0)
			require.Less(t, late, 0.15, "late next replies: %d of %d", c.lateNextReplies, c.nextReplies)
		})
	}
}

// meanOf returns the mean index of weights and the weight of index 0 as a
// share.
func meanOf(weights []float64) (mean, zero float64) {
	var sum, n float64
	for i, w := range weights {
		sum += w
		n += w * float64(i)
	}
	return n / sum, weights[0] / sum
}

// TestGeneratorV2Delays checks the time from a customer message to the
// reply against the priorities' next reply medians, on tickets whose
// priority did not change.
func TestGeneratorV2Delays(t *testing.T) {
	g := NewGenerator(Config{Seed: 12, TicketsPerHour: 600})
	g.ticketLimit = 3000
	type ticket struct {
		prio    string
		changed bool
		wait    time.Time
	}
	tickets := map[string]*ticket{}
	delays := map[string][]time.Duration{}
	for len(g.sched) > 1 {
		m := g.Next()
		var e wireEvent
		require.NoError(t, json.Unmarshal(m.Data, &e))
		if e.TicketID == nil {
			continue
		}
		tk := tickets[*e.TicketID]
		switch *e.Type {
		case "ticket.opened":
			tickets[*e.TicketID] = &ticket{prio: *e.Priority}
		case "ticket.updated":
			tk.changed = true
		case "ticket.customer_message":
			tk.wait = m.OccurredAt
		case "ticket.replied", "ticket.resolved":
			if !tk.wait.IsZero() && *e.Type == "ticket.replied" && !tk.changed {
				delays[tk.prio] = append(delays[tk.prio], m.OccurredAt.Sub(tk.wait))
			}
			tk.wait = time.Time{}
		}
	}
	prios := priorityProfiles()
	for p := range events.Priority(events.NumPriorities) {
		ds := delays[p.String()]
		require.NotEmpty(t, ds, "%s", p)
		slices.Sort(ds)
		median := ds[len(ds)/2]
		want := time.Duration(prios[p].nextReplyMedian) * time.Millisecond
		// Holds (8% of waits, hours long) pull the median up a little.
		require.InEpsilon(t, float64(want), float64(median), 0.25, "%s: median next reply %s of %d", p, median, len(ds))
	}
	require.Len(t, delays, 4)
}
