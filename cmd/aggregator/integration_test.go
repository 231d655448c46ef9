package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// The integration test publishes a scripted helpdesk day to a real
// JetStream, runs the whole aggregator against it with a fixed clock, and
// checks /metrics against KPIs computed here, from the script alone.

var testNow = time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)

type scriptedResolution struct {
	at      time.Time
	replies int // -1: absent
	handle  float64
	hasHdl  bool
}

type scriptedTicket struct {
	id, channel, priority, team string
	opened                      time.Time
	reply                       *time.Time
	resolutions                 []scriptedResolution
	reopens                     []time.Time
	survey                      *scriptedSurvey
	// replyAs is how the first reply is sent: "first_reply" (as in v1),
	// "replied", or "both" (one reply, two events with the same
	// occurred_at and different ids).
	replyAs string
	v2      []scriptedEvent // the other v2 events, in time order
}

// scriptedEvent is one v2 event of a ticket besides its first reply.
type scriptedEvent struct {
	at             time.Time
	typ            string // ticket.customer_message, ticket.replied, ticket.status_changed or ticket.updated
	status         string // of a status change
	priority, team string // the new values of an update; "" when unchanged
}

type scriptedSurvey struct {
	at    time.Time
	kind  string
	score int
}

// message is one event as published.
type message struct {
	id      string
	subject string
	body    []byte
	at      time.Time
}

// script builds n tickets opened over the 22 hours before testNow, with
// channel, priority and team label values (including one channel outside
// the allow-list), and every lifecycle step at millisecond precision.
// The v1 lifecycle of every ticket is drawn first, then (from the same
// generator, so a seed gives the v1 tickets it always gave) the v2 events
// that come between its steps: see addV2.
func script(rng *rand.Rand, n int) []*scriptedTicket {
	channels := []string{"email", "chat", "phone", "web", "fax"} // fax is not allow-listed
	priorities := []string{"low", "normal", "high", "urgent"}
	teams := []string{"billing", "tech", "sales"}
	limit := testNow.Add(-30 * time.Second)
	var tickets []*scriptedTicket
	ms := func(d float64) time.Duration { return time.Duration(d) * time.Millisecond }
	for i := range n {
		tk := &scriptedTicket{
			id:       fmt.Sprintf("T-%d", i),
			channel:  channels[rng.IntN(len(channels))],
			priority: priorities[rng.IntN(len(priorities))],
			team:     teams[rng.IntN(len(teams))],
			opened:   testNow.Add(-ms(rng.Float64() * 22 * 3600e3)).Truncate(time.Millisecond),
		}
		tickets = append(tickets, tk)
		if rng.Float64() < 0.85 {
			r := tk.opened.Add(ms(rng.ExpFloat64() * 20 * 60e3))
			if r.Before(limit) {
				tk.reply = &r
			}
		}
		last := tk.opened
		if tk.reply != nil {
			last = *tk.reply
		}
		for round := 0; round < 2 && rng.Float64() < 0.7; round++ {
			res := scriptedResolution{at: last.Add(ms(rng.ExpFloat64() * 90 * 60e3)), replies: -1}
			if !res.at.Before(limit) {
				break
			}
			if rng.Float64() < 0.8 {
				res.replies = rng.IntN(3)
			}
			if rng.Float64() < 0.6 {
				res.handle, res.hasHdl = math.Round(rng.Float64()*3600*1000)/1000, true
			}
			tk.resolutions = append(tk.resolutions, res)
			last = res.at
			if rng.Float64() < 0.2 {
				re := last.Add(ms(rng.ExpFloat64() * 30 * 60e3))
				if !re.Before(limit) {
					break
				}
				tk.reopens = append(tk.reopens, re)
				last = re
				continue
			}
			break
		}
		if len(tk.resolutions) > 0 && rng.Float64() < 0.5 {
			s := &scriptedSurvey{at: last.Add(ms(rng.Float64() * 20 * 60e3))}
			switch rng.IntN(3) {
			case 0:
				s.kind, s.score = "csat", 1+rng.IntN(5)
			case 1:
				s.kind, s.score = "nps", rng.IntN(11)
			default:
				s.kind, s.score = "ces", 1+rng.IntN(7)
			}
			if s.at.Before(limit) {
				tk.survey = s
			}
		}
	}
	for _, tk := range tickets {
		addV2(rng, tk, limit)
	}
	return tickets
}

// addV2 gives ticket tk the events of contract v2 between its v1 steps,
// all before limit:
//   - the first reply sent as ticket.replied instead of ticket.first_reply
//     (25%), or as both (10%);
//   - now and then a customer message before the first reply (it starts
//     no wait) or while the ticket is resolved (neither), the latter
//     sometimes answered (an agent reply that ends no wait);
//   - after the first reply (60%) and after a reopening (50%), a
//     conversation of 1–3 rounds of customer message and reply, the
//     status going pending (sometimes on_hold) after a reply and open again
//     at the next message, now and then a second message while the
//     customer already waits, and the last round sometimes left
//     unanswered (ended by the resolution, or still waiting);
//   - a change of priority (10%) and of team (5%) between the opening and
//     the first resolution.
//
// No two events of a ticket share an occurred_at but the two of a first
// reply sent as both; a ticket whose draws would make them is left
// without the other v2 events.
func addV2(rng *rand.Rand, tk *scriptedTicket, limit time.Time) {
	tk.replyAs = "first_reply"
	if tk.reply != nil {
		switch r := rng.Float64(); {
		case r < 0.25:
			tk.replyAs = "replied"
		case r < 0.35:
			tk.replyAs = "both"
		}
	}
	var evs []scriptedEvent
	ev := func(at time.Time, typ string) { evs = append(evs, scriptedEvent{at: at, typ: typ}) }
	status := func(at time.Time, st string) {
		evs = append(evs, scriptedEvent{at: at, typ: "ticket.status_changed", status: st})
	}
	// between returns a millisecond strictly inside (a, b), b-a >= 2ms.
	between := func(a, b time.Time) time.Time {
		return a.Add(time.Duration(1+rng.Int64N(int64(b.Sub(a)/time.Millisecond)-1)) * time.Millisecond)
	}
	mid := func(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2).Truncate(time.Millisecond) }
	// converse adds a conversation in (from, to): from is a reply or a
	// reopening, to the next resolution or limit.
	converse := func(from, to time.Time) {
		if to.Sub(from) < 10*time.Second {
			return
		}
		rounds := 1 + rng.IntN(3)
		pts := make([]time.Time, 2*rounds)
		for i := range pts {
			pts[i] = between(from, to)
		}
		slices.SortFunc(pts, time.Time.Compare)
		prev, answered := from, true
		for r := range rounds {
			msg, rep := pts[2*r], pts[2*r+1]
			waiting := rng.Float64() < 0.5 // on the customer, since the reply
			if waiting {
				st := "pending"
				if rng.Float64() < 0.2 {
					st = "on_hold"
				}
				status(mid(prev, msg), st)
			}
			ev(msg, "ticket.customer_message")
			if waiting {
				status(mid(msg, rep), "open")
			}
			if rng.Float64() < 0.2 && rep.Sub(msg) >= 2*time.Millisecond {
				ev(between(msg, rep), "ticket.customer_message") // the customer already waits
			}
			if r == rounds-1 && rng.Float64() < 0.3 {
				answered = false
				break
			}
			ev(rep, "ticket.replied")
			prev = rep
		}
		if answered && rng.Float64() < 0.3 && to.Sub(prev) >= 2*time.Millisecond {
			st := "pending" // until the resolution, or still
			if rng.Float64() < 0.2 {
				st = "on_hold"
			}
			status(between(prev, to), st)
		}
	}

	firstEnd := limit
	if len(tk.resolutions) > 0 {
		firstEnd = tk.resolutions[0].at
	}
	preReply := firstEnd
	if tk.reply != nil {
		preReply = *tk.reply
	}
	if rng.Float64() < 0.15 && preReply.Sub(tk.opened) >= time.Second {
		ev(between(tk.opened, preReply), "ticket.customer_message")
	}
	if tk.reply != nil && rng.Float64() < 0.6 {
		converse(*tk.reply, firstEnd)
	}
	for i, res := range tk.resolutions {
		next := limit
		if i < len(tk.reopens) {
			next = tk.reopens[i]
		}
		if rng.Float64() < 0.1 && next.Sub(res.at) >= time.Second {
			msg := between(res.at, next)
			ev(msg, "ticket.customer_message")
			if rng.Float64() < 0.5 && next.Sub(msg) >= 2*time.Millisecond {
				ev(between(msg, next), "ticket.replied")
			}
		}
		if i < len(tk.reopens) && rng.Float64() < 0.5 {
			end := limit
			if i+1 < len(tk.resolutions) {
				end = tk.resolutions[i+1].at
			}
			converse(tk.reopens[i], end)
		}
	}
	if firstEnd.Sub(tk.opened) >= time.Second {
		if rng.Float64() < 0.1 {
			pri := "urgent"
			if tk.priority == "urgent" || rng.Float64() < 0.5 {
				others := slices.DeleteFunc([]string{"low", "normal", "high", "urgent"}, func(p string) bool { return p == tk.priority })
				pri = others[rng.IntN(len(others))]
			}
			evs = append(evs, scriptedEvent{at: between(tk.opened, firstEnd), typ: "ticket.updated", priority: pri})
		}
		if rng.Float64() < 0.05 {
			others := slices.DeleteFunc([]string{"billing", "tech", "sales"}, func(tm string) bool { return tm == tk.team })
			evs = append(evs, scriptedEvent{at: between(tk.opened, firstEnd), typ: "ticket.updated", team: others[rng.IntN(len(others))]})
		}
	}
	slices.SortStableFunc(evs, func(a, b scriptedEvent) int { return a.at.Compare(b.at) })

	seen := map[time.Time]bool{tk.opened: true}
	times := []time.Time{}
	if tk.reply != nil {
		times = append(times, *tk.reply)
	}
	for _, r := range tk.resolutions {
		times = append(times, r.at)
	}
	times = append(times, tk.reopens...)
	if tk.survey != nil {
		times = append(times, tk.survey.at)
	}
	for _, e := range evs {
		times = append(times, e.at)
	}
	for _, at := range times {
		if seen[at] || !at.After(tk.opened) || !at.Before(limit) {
			return
		}
		seen[at] = true
	}
	tk.v2 = evs
}

func (tk *scriptedTicket) messages() []message {
	var out []message
	n := 0
	add := func(typ string, at time.Time, extra map[string]any) {
		n++
		e := map[string]any{"id": fmt.Sprintf("%s-e%d", tk.id, n), "type": typ, "ticket_id": tk.id, "occurred_at": at.Format(time.RFC3339Nano)}
		for k, v := range extra {
			e[k] = v
		}
		body, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		out = append(out, message{id: e["id"].(string), subject: "helpdesk.events." + typ, body: body, at: at})
	}
	add("ticket.opened", tk.opened, map[string]any{"channel": tk.channel, "priority": tk.priority, "team": tk.team, "note": map[string]any{"ignored": []int{1, 2}}})
	if tk.reply != nil {
		if tk.replyAs != "replied" {
			add("ticket.first_reply", *tk.reply, map[string]any{"agent_id": "a-1"})
		}
		if tk.replyAs != "first_reply" {
			add("ticket.replied", *tk.reply, map[string]any{"agent_id": "a-1"})
		}
	}
	for _, e := range tk.v2 {
		extra := map[string]any{}
		switch e.typ {
		case "ticket.replied":
			extra["agent_id"] = "a-2"
		case "ticket.status_changed":
			extra["status"] = e.status
		case "ticket.updated":
			if e.priority != "" {
				extra["priority"] = e.priority
			}
			if e.team != "" {
				extra["team"] = e.team
			}
		}
		add(e.typ, e.at, extra)
	}
	for i, r := range tk.resolutions {
		extra := map[string]any{}
		if r.replies >= 0 {
			extra["replies"] = r.replies
		}
		if r.hasHdl {
			extra["handle_seconds"] = r.handle
		}
		add("ticket.resolved", r.at, extra)
		if i < len(tk.reopens) {
			add("ticket.reopened", tk.reopens[i], nil)
		}
	}
	if s := tk.survey; s != nil {
		add("survey.answered", s.at, map[string]any{"survey": map[string]any{"kind": s.kind, "score": s.score}})
	}
	return out
}

// expected holds the KPIs the script implies for one window and one cell.
type expected struct {
	opened, resolved, reopened     int
	firstReplies, resolutionsN     []float64 // seconds
	nextReplies                    []float64 // seconds
	fcrN, fcrOne                   int
	handle                         []float64
	csat, nps, ces                 []int
	agentReplies, customerMessages int
}

type cellKey struct{ channel, priority, team string }

// cells returns the cells a sample at labels c counts in: the overall one
// and one per breakdown label.
func (c cellKey) cells() []cellKey {
	return []cellKey{{"all", "all", "all"}, {c.channel, "all", "all"}, {"all", c.priority, "all"}, {"all", "all", c.team}}
}

// The kinds of samples a ticket's life gives.
const (
	sOpened = iota
	sFirstReply
	sResolved
	sReopened
	sSurvey
	sAgentReply
	sCustomerMessage
	sNextReply
)

// sample is one thing a ticket's life counts, at its own time and under
// the labels the ticket has then.
type sample struct {
	kind   int
	at     time.Time
	labels cellKey
	secs   float64             // first reply, resolution, next reply time
	res    *scriptedResolution // of a resolution
	fcr    int                 // a resolution's reply count for FCR, -1: left out
	survey *scriptedSurvey
}

// lifeEnd is where a ticket's life stands after its last event.
type lifeEnd struct {
	labels cellKey // the current ones
	open   bool
	status string
}

// life walks ticket tk's events in time order by the rules of contract
// v2 (section 2) and returns its samples and where it ends. It reads the
// script only: a timeline built from the ticket's fields.
func (tk *scriptedTicket) life() ([]sample, lifeEnd) {
	type step struct {
		at  time.Time
		typ string
		res *scriptedResolution
		ev  *scriptedEvent
	}
	var tl []step
	if tk.reply != nil {
		if tk.replyAs != "replied" {
			tl = append(tl, step{at: *tk.reply, typ: "ticket.first_reply"})
		}
		if tk.replyAs != "first_reply" {
			tl = append(tl, step{at: *tk.reply, typ: "ticket.replied"})
		}
	}
	for i := range tk.resolutions {
		tl = append(tl, step{at: tk.resolutions[i].at, typ: "ticket.resolved", res: &tk.resolutions[i]})
	}
	for _, re := range tk.reopens {
		tl = append(tl, step{at: re, typ: "ticket.reopened"})
	}
	if tk.survey != nil {
		tl = append(tl, step{at: tk.survey.at, typ: "survey.answered"})
	}
	for i := range tk.v2 {
		tl = append(tl, step{at: tk.v2[i].at, typ: tk.v2[i].typ, ev: &tk.v2[i]})
	}
	// Only the two events of a first reply sent as both share a time.
	slices.SortStableFunc(tl, func(a, b step) int { return a.at.Compare(b.at) })

	ch := tk.channel
	if ch == "fax" {
		ch = "other"
	}
	cur := cellKey{ch, tk.priority, tk.team}
	end := lifeEnd{open: true, status: "open"}
	out := []sample{{kind: sOpened, at: tk.opened, labels: cur}}
	replied := false   // the first reply came
	var wait time.Time // start of the running wait; zero while none runs
	replies := 0       // ticket.replied events so far
	for _, st := range tl {
		add := func(kind int, secs float64) {
			out = append(out, sample{kind: kind, at: st.at, labels: cur, secs: secs})
		}
		switch st.typ {
		case "ticket.updated":
			if st.ev.priority != "" {
				cur.priority = st.ev.priority
			}
			if st.ev.team != "" {
				cur.team = st.ev.team
			}
		case "ticket.status_changed":
			end.status = st.ev.status
		case "ticket.first_reply":
			if !replied {
				replied = true
				add(sFirstReply, st.at.Sub(tk.opened).Seconds())
			}
		case "ticket.replied":
			replies++
			add(sAgentReply, 0)
			switch {
			case !replied:
				replied = true
				add(sFirstReply, st.at.Sub(tk.opened).Seconds())
			case !wait.IsZero():
				add(sNextReply, st.at.Sub(wait).Seconds())
				wait = time.Time{}
			}
		case "ticket.customer_message":
			add(sCustomerMessage, 0)
			if replied && end.open && wait.IsZero() {
				wait = st.at
			}
		case "ticket.resolved":
			fcr := st.res.replies
			if fcr < 0 && replies > 0 {
				fcr = replies
			}
			out = append(out, sample{kind: sResolved, at: st.at, labels: cur, secs: st.at.Sub(tk.opened).Seconds(), res: st.res, fcr: fcr})
			wait = time.Time{}
			end.open = false
		case "ticket.reopened":
			add(sReopened, 0)
			end.open, end.status = true, "open"
		case "survey.answered":
			out = append(out, sample{kind: sSurvey, at: st.at, labels: cur, survey: tk.survey})
		}
	}
	end.labels = cur
	return out, end
}

// windowStart returns the earliest event time a window of width w ending
// at now covers: the window is made of 60 panes of w/60, the current one
// included.
func windowStart(now time.Time, w time.Duration) time.Time {
	pane := w / 60
	return now.Truncate(pane).Add(-59 * pane)
}

// expect computes, from the script alone, the windowed KPIs per cell.
func expect(tickets []*scriptedTicket, start time.Time) map[cellKey]*expected {
	out := map[cellKey]*expected{}
	for _, tk := range tickets {
		samples, _ := tk.life()
		for _, s := range samples {
			if s.at.Before(start) {
				continue
			}
			for _, c := range s.labels.cells() {
				if out[c] == nil {
					out[c] = &expected{}
				}
				e := out[c]
				switch s.kind {
				case sOpened:
					e.opened++
				case sFirstReply:
					e.firstReplies = append(e.firstReplies, s.secs)
				case sResolved:
					e.resolved++
					e.resolutionsN = append(e.resolutionsN, s.secs)
					if s.fcr >= 0 {
						e.fcrN++
						if s.fcr == 1 {
							e.fcrOne++
						}
					}
					if s.res.hasHdl {
						e.handle = append(e.handle, s.res.handle)
					}
				case sReopened:
					e.reopened++
				case sAgentReply:
					e.agentReplies++
				case sCustomerMessage:
					e.customerMessages++
				case sNextReply:
					e.nextReplies = append(e.nextReplies, s.secs)
				case sSurvey:
					switch s.survey.kind {
					case "csat":
						e.csat = append(e.csat, s.survey.score)
					case "nps":
						e.nps = append(e.nps, s.survey.score)
					case "ces":
						e.ces = append(e.ces, s.survey.score)
					}
				}
			}
		}
	}
	return out
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func nearestRank(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	r := int(math.Ceil(q*float64(len(s)) - 1e-9))
	return s[max(r, 1)-1]
}

func publish(t *testing.T, js jetstream.JetStream, msgs []message, withMsgID bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range msgs {
		nm := nats.NewMsg(m.subject)
		nm.Data = m.body
		if withMsgID {
			nm.Header.Set(jetstream.MsgIDHeader, m.id)
		}
		_, err := js.PublishMsg(ctx, nm)
		require.NoError(t, err)
	}
}

// poison are messages the aggregator must reject, with their reasons.
func poison() []struct {
	body   string
	reason string
} {
	return []struct {
		body   string
		reason string
	}{
		{`{"id":"p1","type":"ticket.opened"`, "invalid_json"},
		{`not json at all`, "invalid_json"},
		{`{"type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z"}`, "missing_field"},
		{`{"id":"p3","type":"ticket.resolved","occurred_at":"2026-11-23T10:00:00Z"}`, "missing_field"},
		{`{"id":"p4","type":"ticket.escalated","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z"}`, "unknown_type"},
		{`{"id":"p5","type":"survey.answered","occurred_at":"2026-11-23T10:00:00Z","survey":{"kind":"csat","score":6}}`, "out_of_range"},
		{`{"id":"p6","type":"ticket.opened","ticket_id":"X","occurred_at":"yesterday"}`, "invalid_value"},
		{`{"id":"p7","type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z","priority":"p1"}`, "invalid_value"},
		{`{"id":"p8","type":"ticket.opened","ticket_id":"X","occurred_at":"2026-11-23T10:00:00Z","pad":"` + strings.Repeat("x", 70_000) + `"}`, "too_large"},
		// An hour ahead of the aggregator's clock.
		{`{"id":"p9","type":"ticket.opened","ticket_id":"F","occurred_at":"2026-11-23T13:00:30Z"}`, "future"},
	}
}

// scenario is the whole published stream of the test.
type scenario struct {
	tickets    []*scriptedTicket
	events     []message // valid events, in publication order
	duplicates []message // republished without Nats-Msg-Id: the aggregator must drop them
	late       message   // an opening 8 days old: ticket state, no window
}

func newScenario(seed uint64, n int) *scenario {
	rng := rand.New(rand.NewPCG(seed, 1))
	sc := &scenario{tickets: script(rng, n)}
	for _, tk := range sc.tickets {
		sc.events = append(sc.events, tk.messages()...)
	}
	slices.SortStableFunc(sc.events, func(a, b message) int { return a.at.Compare(b.at) })
	// Out-of-order pairs: swap neighbours now and then.
	for i := 0; i+1 < len(sc.events); i += 7 {
		sc.events[i], sc.events[i+1] = sc.events[i+1], sc.events[i]
	}
	for i := 0; i < len(sc.events); i += 29 {
		sc.duplicates = append(sc.duplicates, sc.events[i])
	}
	late := testNow.Add(-8 * 24 * time.Hour)
	sc.late = message{id: "late-1", subject: "helpdesk.events.ticket.opened", at: late,
		body: []byte(`{"id":"late-1","type":"ticket.opened","ticket_id":"L-1","occurred_at":"` + late.Format(time.RFC3339) + `","channel":"email","priority":"low","team":"billing"}`)}
	return sc
}

// shuffled returns the events shuffled within half-hour slices of event
// time, so every event still arrives before the newest event time passes
// it by the one-hour hold.
func (sc *scenario) shuffled(seed uint64) []message {
	rng := rand.New(rand.NewPCG(seed, 2))
	evs := slices.Clone(sc.events)
	slices.SortStableFunc(evs, func(a, b message) int { return a.at.Compare(b.at) })
	for i := 0; i < len(evs); {
		j := i
		slot := evs[i].at.Truncate(30 * time.Minute)
		for j < len(evs) && evs[j].at.Truncate(30*time.Minute).Equal(slot) {
			j++
		}
		part := evs[i:j]
		rng.Shuffle(len(part), func(a, b int) { part[a], part[b] = part[b], part[a] })
		i = j
	}
	return evs
}

// runScenario publishes the stream in the given order, runs the
// aggregator until it has applied everything, and returns the scrape.
func runScenario(t *testing.T, sc *scenario, order []message) map[string]float64 {
	t.Helper()
	srv := natstest.Start(t)
	agg := startAggregator(t, srv.ClientURL(), testNow)
	_, js := srv.Connect(t)
	waitStream(t, js)
	publish(t, js, order[:len(order)/2], true)
	publish(t, js, []message{sc.late}, true)
	for i, p := range poison() {
		publish(t, js, []message{{id: fmt.Sprintf("poison-%d", i), subject: "helpdesk.events.x", body: []byte(p.body)}}, true)
	}
	publish(t, js, order[len(order)/2:], true)
	publish(t, js, sc.duplicates, false)
	publish(t, js, order[:50], true) // publish retries: JetStream drops them
	total := len(order) + 1 + len(poison()) + len(sc.duplicates)

	m := waitHandled(t, agg.url, total)
	checkAPI(t, agg.url, m)
	require.NoError(t, agg.stop())

	// Every rejected message was copied to the dead-letter stream, with
	// its reason.
	dl, err := js.Stream(context.Background(), "HELPDESK_DEADLETTER")
	require.NoError(t, err)
	var reasons []string
	for seq := uint64(1); seq <= uint64(len(poison())); seq++ {
		raw, err := dl.GetMsg(context.Background(), seq)
		require.NoError(t, err)
		reasons = append(reasons, raw.Header.Get("Helpdesk-Reject-Reason"))
	}
	var want []string
	for _, p := range poison() {
		want = append(want, p.reason)
	}
	require.Equal(t, want, reasons)
	return m
}

func TestScriptedStream(t *testing.T) {
	sc := newScenario(42, 900)
	require.Greater(t, len(sc.events), 2500, "a few thousand events")
	m := runScenario(t, sc, sc.events)

	// Ingest counters.
	byType := map[string]int{}
	for _, e := range sc.events {
		byType[strings.TrimPrefix(e.subject, "helpdesk.events.")]++
	}
	byType["ticket.opened"]++ // the late one
	for typ, n := range byType {
		require.Equal(t, float64(n), m[key("helpdesk_events_total", map[string]string{"type": typ})], typ)
	}
	reasons := map[string]float64{}
	for _, p := range poison() {
		reasons[p.reason]++
	}
	for r, n := range reasons {
		require.Equal(t, n, m[key("helpdesk_events_rejected_total", map[string]string{"reason": r})], r)
	}
	require.Equal(t, float64(len(sc.duplicates)), m[`helpdesk_events_duplicate_total{}`])
	require.Equal(t, 1.0, m[`helpdesk_events_late_total{}`])
	require.Equal(t, 0.0, m[`helpdesk_events_orphaned_total{}`])

	checkWindows(t, sc, m)
	checkBacklog(t, sc, m)
	checkCumulative(t, sc, m)
}

// TestScriptCoversV2 checks that the scripted stream has every case of
// the v2 rules the checks above compute, many times over.
func TestScriptCoversV2(t *testing.T) {
	sc := newScenario(42, 900)
	n := map[string]int{}
	for _, tk := range sc.tickets {
		n["first reply as "+tk.replyAs]++
		for _, e := range tk.v2 {
			switch {
			case e.priority != "":
				n["priority changed"]++
			case e.team != "":
				n["team changed"]++
			case e.typ == "ticket.status_changed":
				n["status "+e.status]++
			}
		}
		samples, end := tk.life()
		for _, s := range samples {
			switch s.kind {
			case sNextReply:
				n["next reply"]++
			case sResolved:
				if s.res.replies < 0 && s.fcr >= 0 {
					n["resolution counted by its reply events"]++
				}
			}
		}
		if end.open {
			n["open, "+end.status]++
		}
		if end.labels.priority != tk.priority || end.labels.team != tk.team {
			n["labels changed"]++
		}
	}
	// Messages not followed by a next reply: before the first reply, while
	// a wait runs, ended by a resolution, on a resolved ticket, unanswered.
	msgs, next := 0, n["next reply"]
	for _, tk := range sc.tickets {
		for _, e := range tk.v2 {
			if e.typ == "ticket.customer_message" {
				msgs++
			}
		}
	}
	t.Logf("%d customer messages, %d next replies; %v", msgs, next, n)
	for _, c := range []string{"first reply as replied", "first reply as both", "priority changed", "team changed",
		"status pending", "status on_hold", "status open", "next reply", "resolution counted by its reply events",
		"open, open", "open, pending", "open, on_hold", "labels changed"} {
		require.GreaterOrEqual(t, n[c], 3, c)
	}
	require.Greater(t, msgs-next, 50, "messages that end in no next reply")
}

func TestShuffledStreamGivesIdenticalMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scenario twice")
	}
	sc := newScenario(7, 600)
	inOrder := exactOutcomes(runScenario(t, sc, sc.events))
	shuffled := exactOutcomes(runScenario(t, sc, sc.shuffled(99)))
	checkWindows(t, sc, shuffled)
	checkBacklog(t, sc, shuffled)
	// The cumulative series of the ledger: a ticket.updated that arrives
	// after events it relabels, or a resolution after the reply it makes
	// no next reply, takes a contribution back, which stays in the
	// counter and is counted as a correction; so those depend on the
	// arrival order. Both runs must show the exact values the script
	// implies, with exactly the excess their corrections say; a metric
	// that neither run corrected must agree as it is. The breakdown of an
	// opening and a survey's series never change: nothing is corrected.
	checkCumulative(t, sc, inOrder)
	checkCumulative(t, sc, shuffled)
	corrected := map[string]bool{}
	for _, metric := range []string{"helpdesk_tickets_opened_total", "helpdesk_tickets_resolved_total", "helpdesk_tickets_reopened_total",
		"helpdesk_first_reply_duration_seconds", "helpdesk_resolution_duration_seconds", "helpdesk_next_reply_duration_seconds",
		"helpdesk_survey_responses_total"} {
		k := key("helpdesk_corrections_total", map[string]string{"metric": metric})
		require.Contains(t, shuffled, k)
		if inOrder[k] != 0 || shuffled[k] != 0 {
			corrected[metric] = true
			corrected[k] = true
		}
	}
	require.False(t, corrected["helpdesk_tickets_opened_total"])
	require.False(t, corrected["helpdesk_survey_responses_total"])
	t.Logf("corrected (compared with their exact values only): %v", slices.Sorted(maps.Keys(corrected)))
	orderDependent := func(k string) bool {
		name, _, _ := strings.Cut(k, "{")
		return corrected[k] || corrected[name] || corrected[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_count"), "_sum"), "_bucket")]
	}
	for k, v := range inOrder {
		if strings.HasPrefix(k, "helpdesk_") && !orderDependent(k) {
			require.Equal(t, v, shuffled[k], k)
		}
	}
	for k := range shuffled {
		if strings.HasPrefix(k, "helpdesk_") {
			require.Contains(t, inOrder, k)
		}
	}
}

// exactOutcomes replaces each helpdesk_sla_outcomes_total series by its
// exact value (the counter minus its corrections, which depend on the
// arrival order) and drops the corrections.
func exactOutcomes(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "helpdesk_sla_outcome_corrections_total{"):
		case strings.HasPrefix(k, "helpdesk_sla_outcomes_total{"):
			out[k] = v - m["helpdesk_sla_outcome_corrections_total"+strings.TrimPrefix(k, "helpdesk_sla_outcomes_total")]
		default:
			out[k] = v
		}
	}
	return out
}

func labels(window string, c cellKey) map[string]string {
	return map[string]string{"window": window, "channel": c.channel, "priority": c.priority, "team": c.team}
}

// checkWindows compares every windowed series of the 1h and 24h windows.
func checkWindows(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	for _, w := range []struct {
		name  string
		width time.Duration
	}{{"1h", time.Hour}, {"24h", 24 * time.Hour}} {
		exp := expect(sc.tickets, windowStart(testNow, w.width))
		for _, c := range allCells() {
			e := exp[c]
			if e == nil {
				e = &expected{}
			}
			l := labels(w.name, c)
			at := func(metric string) string { return key(metric, l) }
			msg := fmt.Sprintf("window %s cell %+v", w.name, c)
			require.Equal(t, float64(e.opened), m[at("helpdesk_tickets_opened")], msg)
			require.Equal(t, float64(e.resolved), m[at("helpdesk_tickets_resolved")], msg)
			require.Equal(t, float64(e.reopened), m[at("helpdesk_tickets_reopened")], msg)
			require.Equal(t, float64(len(e.firstReplies)), m[at("helpdesk_first_replies")], msg)
			require.Equal(t, float64(e.agentReplies), m[at("helpdesk_agent_replies")], msg)
			require.Equal(t, float64(e.customerMessages), m[at("helpdesk_customer_messages")], msg)
			require.Equal(t, float64(len(e.nextReplies)), m[at("helpdesk_next_replies")], msg)
			gaugeOrAbsent(t, m, at("helpdesk_reopen_ratio"), e.resolved > 0, float64(e.reopened)/float64(e.resolved), msg)
			gaugeOrAbsent(t, m, at("helpdesk_fcr_ratio"), e.fcrN > 0, float64(e.fcrOne)/float64(e.fcrN), msg)
			if len(e.firstReplies) > 0 {
				require.InEpsilon(t, mean(e.firstReplies), m[at("helpdesk_first_reply_time_avg_seconds")], 1e-9, msg)
			} else {
				require.NotContains(t, m, at("helpdesk_first_reply_time_avg_seconds"), msg)
			}
			if len(e.resolutionsN) > 0 {
				require.InEpsilon(t, mean(e.resolutionsN), m[at("helpdesk_resolution_time_avg_seconds")], 1e-9, msg)
			}
			if len(e.nextReplies) > 0 {
				require.InEpsilon(t, mean(e.nextReplies), m[at("helpdesk_next_reply_time_avg_seconds")], 1e-9, msg)
			} else {
				require.NotContains(t, m, at("helpdesk_next_reply_time_avg_seconds"), msg)
			}
			if len(e.handle) > 0 {
				require.InEpsilon(t, mean(e.handle), m[at("helpdesk_handle_time_avg_seconds")], 1e-9, msg)
			} else {
				require.NotContains(t, m, at("helpdesk_handle_time_avg_seconds"), msg)
			}
			for _, q := range []string{"0.5", "0.9", "0.99"} {
				ql := labels(w.name, c)
				ql["quantile"] = q
				qf, err := strconv.ParseFloat(q, 64)
				require.NoError(t, err)
				for _, d := range []struct {
					metric  string
					samples []float64
				}{{"helpdesk_first_reply_time_seconds", e.firstReplies}, {"helpdesk_resolution_time_seconds", e.resolutionsN},
					{"helpdesk_next_reply_time_seconds", e.nextReplies}} {
					k := key(d.metric, ql)
					if len(d.samples) == 0 {
						require.NotContains(t, m, k, msg)
						continue
					}
					exact := nearestRank(d.samples, qf)
					require.Contains(t, m, k, msg)
					require.LessOrEqual(t, math.Abs(m[k]-exact), 0.01*exact, "%s q=%s: exact %v", msg, q, exact)
				}
			}
			checkSurveys(t, m, at, e, msg)
		}
	}
}

// allCells returns the cells of every windowed and backlog series: the
// overall one and one per value of each breakdown label.
func allCells() []cellKey {
	cells := []cellKey{{"all", "all", "all"}}
	for _, c := range []string{"email", "chat", "phone", "web", "social", "other", "unknown"} {
		cells = append(cells, cellKey{c, "all", "all"})
	}
	for _, p := range []string{"low", "normal", "high", "urgent", "unknown"} {
		cells = append(cells, cellKey{"all", p, "all"})
	}
	for _, tm := range []string{"billing", "tech", "sales", "unknown", "other"} {
		cells = append(cells, cellKey{"all", "all", tm})
	}
	return cells
}

func gaugeOrAbsent(t *testing.T, m map[string]float64, k string, present bool, want float64, msg string) {
	t.Helper()
	if !present {
		require.NotContains(t, m, k, msg)
		return
	}
	require.Contains(t, m, k, msg)
	require.InDelta(t, want, m[k], 1e-12, "%s %s", k, msg)
}

func checkSurveys(t *testing.T, m map[string]float64, at func(string) string, e *expected, msg string) {
	t.Helper()
	sat, sum := 0, 0
	for _, s := range e.csat {
		sum += s
		if s >= 4 {
			sat++
		}
	}
	n := len(e.csat)
	require.Equal(t, float64(n), m[at("helpdesk_csat_responses")], msg)
	require.Equal(t, float64(sat), m[at("helpdesk_csat_satisfied_responses")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_csat_ratio"), n > 0, float64(sat)/float64(n), msg)
	gaugeOrAbsent(t, m, at("helpdesk_csat_score_avg"), n > 0, float64(sum)/float64(n), msg)

	pro, det := 0, 0
	for _, s := range e.nps {
		if s >= 9 {
			pro++
		} else if s <= 6 {
			det++
		}
	}
	n = len(e.nps)
	require.Equal(t, float64(n), m[at("helpdesk_nps_responses")], msg)
	require.Equal(t, float64(pro), m[at("helpdesk_nps_promoters")], msg)
	require.Equal(t, float64(det), m[at("helpdesk_nps_detractors")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_nps_score"), n > 0, 100*float64(pro-det)/float64(n), msg)

	easy, sum := 0, 0
	for _, s := range e.ces {
		sum += s
		if s >= 5 {
			easy++
		}
	}
	n = len(e.ces)
	require.Equal(t, float64(n), m[at("helpdesk_ces_responses")], msg)
	gaugeOrAbsent(t, m, at("helpdesk_ces_score_avg"), n > 0, float64(sum)/float64(n), msg)
	gaugeOrAbsent(t, m, at("helpdesk_ces_easy_ratio"), n > 0, float64(easy)/float64(n), msg)
}

// checkBacklog compares open tickets per cell, counted under each open
// ticket's current labels, in all and by current status; the late opening
// counts (open since its opening).
func checkBacklog(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	open := map[cellKey]int{}
	byStatus := map[string]map[cellKey]int{"open": {}, "pending": {}, "on_hold": {}}
	count := func(labels cellKey, status string) {
		for _, c := range labels.cells() {
			open[c]++
			byStatus[status][c]++
		}
	}
	for _, tk := range sc.tickets {
		if _, end := tk.life(); end.open {
			count(end.labels, end.status)
		}
	}
	count(cellKey{"email", "low", "billing"}, "open") // the late ticket
	for _, c := range allCells() {
		l := map[string]string{"channel": c.channel, "priority": c.priority, "team": c.team}
		require.Equal(t, float64(open[c]), m[key("helpdesk_open_tickets", l)], "%+v", c)
		for st, n := range byStatus {
			l["status"] = st
			k := key("helpdesk_open_tickets_by_status", l)
			require.Contains(t, m, k)
			require.Equal(t, float64(n[c]), m[k], "%+v %s", c, st)
		}
	}
}

// checkCumulative compares the cumulative counters and histograms with
// their exact values, computed from the script: each series under the
// labels of the ticket at the event's time (its opening's for tickets
// opened). A counter never decreases: what an out-of-order event takes
// back from one (such as a ticket.updated that arrives after events it
// relabels) stays in it and is counted in helpdesk_corrections_total of
// its metric. So every series shows at least its exact value, and what
// the series of a metric show beyond their exact values is, in sum, that
// metric's corrections (checkLedger).
func checkCumulative(t *testing.T, sc *scenario, m map[string]float64) {
	t.Helper()
	totals := map[string]map[string]float64{
		"helpdesk_tickets_opened_total": {}, "helpdesk_tickets_resolved_total": {}, "helpdesk_tickets_reopened_total": {},
	}
	type chPri struct{ ch, pri string }
	hists := map[string]map[chPri][]float64{
		"helpdesk_first_reply_duration_seconds": {}, "helpdesk_resolution_duration_seconds": {}, "helpdesk_next_reply_duration_seconds": {},
	}
	surveys := map[string]float64{}
	total := func(metric string, c cellKey) {
		totals[metric][key(metric, map[string]string{"channel": c.channel, "priority": c.priority, "team": c.team})]++
	}
	observe := func(metric string, s sample) {
		c := chPri{s.labels.channel, s.labels.priority}
		hists[metric][c] = append(hists[metric][c], s.secs)
	}
	for _, tk := range sc.tickets {
		samples, _ := tk.life()
		for _, s := range samples {
			switch s.kind {
			case sOpened:
				total("helpdesk_tickets_opened_total", s.labels)
			case sResolved:
				total("helpdesk_tickets_resolved_total", s.labels)
				observe("helpdesk_resolution_duration_seconds", s)
			case sReopened:
				total("helpdesk_tickets_reopened_total", s.labels)
			case sFirstReply:
				observe("helpdesk_first_reply_duration_seconds", s)
			case sNextReply:
				observe("helpdesk_next_reply_duration_seconds", s)
			case sSurvey:
				surveys[key("helpdesk_survey_responses_total", map[string]string{"kind": s.survey.kind, "score": strconv.Itoa(s.survey.score)})]++
			}
		}
	}
	total("helpdesk_tickets_opened_total", cellKey{"email", "low", "billing"}) // the late ticket
	for metric, want := range totals {
		checkLedger(t, m, metric, metric, want)
	}
	for metric, byCell := range hists {
		counts := map[string]float64{}
		for c, samples := range byCell {
			counts[key(metric+"_count", map[string]string{"channel": c.ch, "priority": c.pri})] = float64(len(samples))
		}
		checkLedger(t, m, metric+"_count", metric, counts)
		for k, n := range m {
			if !strings.HasPrefix(k, metric+"_count{") {
				continue
			}
			l := seriesLabels(k)
			samples := byCell[chPri{l["channel"], l["priority"]}]
			sum, under1h := 0.0, 0
			for _, s := range samples {
				sum += s
				if s <= 3600 {
					under1h++
				}
			}
			gotSum := m[key(metric+"_sum", l)]
			l["le"] = "3600"
			gotUnder1h := m[key(metric+"_bucket", l)]
			if n == float64(len(samples)) { // nothing kept that was taken back
				require.InDelta(t, sum, gotSum, 1e-6*sum+1e-9, k)
				require.Equal(t, float64(under1h), gotUnder1h, k)
			} else {
				require.GreaterOrEqual(t, gotSum, sum*(1-1e-6), k)
				require.GreaterOrEqual(t, gotUnder1h, float64(under1h), k)
			}
		}
	}
	// A survey's series has no ticket labels: no order can take one back.
	checkLedger(t, m, "helpdesk_survey_responses_total", "helpdesk_survey_responses_total", surveys)
	require.Zero(t, m[key("helpdesk_corrections_total", map[string]string{"metric": "helpdesk_survey_responses_total"})])
}

// checkLedger compares every series named series in the scrape with its
// exact value in want (0 when absent): it shows at least that, and the
// series show beyond their exact values, in sum, what
// helpdesk_corrections_total{metric} says was taken back.
func checkLedger(t *testing.T, m map[string]float64, series, metric string, want map[string]float64) {
	t.Helper()
	for k := range want {
		require.Contains(t, m, k)
	}
	excess, n := 0.0, 0
	for k, v := range m {
		if strings.HasPrefix(k, series+"{") {
			n++
			require.GreaterOrEqual(t, v, want[k], "%s: below its exact value", k)
			excess += v - want[k]
		}
	}
	require.Positive(t, n, series)
	corrections := key("helpdesk_corrections_total", map[string]string{"metric": metric})
	require.Contains(t, m, corrections)
	require.Equal(t, m[corrections], excess, "%s: counted beyond the exact values, against %s", series, corrections)
}

// seriesLabels returns the labels of a series key made by key.
func seriesLabels(k string) map[string]string {
	_, rest, _ := strings.Cut(k, "{")
	rest = strings.TrimSuffix(rest, "}")
	l := map[string]string{}
	for rest != "" {
		name, after, _ := strings.Cut(rest, "=")
		v, err := strconv.QuotedPrefix(after)
		if err != nil {
			panic(fmt.Sprintf("series %s: %v", k, err))
		}
		l[name], _ = strconv.Unquote(v)
		rest = strings.TrimPrefix(after[len(v):], ",")
	}
	return l
}

// checkAPI compares /api/v1/kpis with the gauges of the same scrape, for
// every series of the 1h window, and checks the API's errors.
func checkAPI(t *testing.T, baseURL string, m map[string]float64) {
	t.Helper()
	resp, err := http.Get(baseURL + "/api/v1/kpis?window=1h")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Window string           `json:"window"`
		Series []map[string]any `json:"series"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "1h", body.Window)
	require.NotEmpty(t, body.Series)
	for _, s := range body.Series {
		l := map[string]string{"window": "1h", "channel": s["channel"].(string), "priority": s["priority"].(string), "team": s["team"].(string)}
		for field, v := range s {
			switch v := v.(type) {
			case float64:
				name := "helpdesk_" + field
				if field == "open_tickets" {
					delete(l, "window")
					require.Equal(t, m[key(name, l)], v, field)
					l["window"] = "1h"
					continue
				}
				require.Contains(t, m, key(name, l), field)
				require.Equal(t, m[key(name, l)], v, "%s %v", field, l)
			case map[string]any: // quantiles, or the backlog by status
				if field == "open_tickets_by_status" {
					for st, n := range v {
						sl := map[string]string{"status": st, "channel": l["channel"], "priority": l["priority"], "team": l["team"]}
						require.Equal(t, m[key("helpdesk_open_tickets_by_status", sl)], n, "%s %v", field, sl)
					}
					continue
				}
				for q, qv := range v {
					ql := map[string]string{"quantile": q}
					for k, x := range l {
						ql[k] = x
					}
					require.Equal(t, m[key("helpdesk_"+field, ql)], qv, "%s %v", field, ql)
				}
			}
		}
	}
	for _, bad := range []string{"", "?window=2h"} {
		resp, err := http.Get(baseURL + "/api/v1/kpis" + bad)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(baseURL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
}
