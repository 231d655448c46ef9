package simulate

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// SubjectPrefix is the subject prefix of every Message: the subject of an
// event is SubjectPrefix followed by its type, as the contract prescribes.
const SubjectPrefix = "helpdesk.events."

const (
	// pcgStream is the second PCG seed word, fixed so that Config.Seed alone
	// selects the stream.
	pcgStream = 0x68656c706465736b // "helpdesk"

	// A delayed event is emitted after 1 to maxDisorderDistance of the
	// distinct events that follow it.
	maxDisorderDistance = 5

	// A duplicate is emitted after 0 to maxRetryDistance other messages
	// following its original.
	maxRetryDistance = 3
)

// Message is one event ready to publish.
type Message struct {
	// Subject is SubjectPrefix followed by the event type, for example
	// "helpdesk.events.ticket.opened".
	Subject string
	// MsgID is the event id; publishers set it as the Nats-Msg-Id header.
	MsgID string
	// Data is the event as one JSON object. Every Message has its own Data;
	// the Generator never touches it again.
	Data []byte
	// OccurredAt is the event time, in UTC, as written in Data.
	OccurredAt time.Time
	// Position is the message's place in the stream, from 1, repeats
	// included: a Generator resumed with Skip(n) goes on with position
	// n+1. Publishers write it in the Helpdesk-Sim-Position header.
	Position uint64
}

// Generator yields an endless, deterministic stream of events. It is not
// safe for concurrent use.
//
// Events are produced in event-time order from a schedule of every ticket's
// next step; each is then, with the configured shares, moved back behind a
// few of its successors (disorder) or followed by a copy of itself (publish
// retry). Ticket and event numbers count from 1 in production order, so
// ids read "e-<seed>-<n>" and "T-<n>".
//
// Memory grows with the tickets in progress, about TicketsPerHour times the
// mean ticket life of one to two days in event time, at about 56 bytes each.
type Generator struct {
	rng *rand.Rand

	startMs     int64   // Config.Start in Unix milliseconds
	ticketGap   float64 // mean ms between ticket arrivals
	surveyGap   float64 // mean ms between ticketless surveys
	ticketClock float64 // latest ticket arrival, ms after startMs
	surveyClock float64 // latest ticketless survey, ms after startMs

	retryProb     float64 // chance that a message is repeated
	disorderShare float64 // chance that an event is delayed
	owedDelays    int     // delays drawn but not yet made, for want of room

	sched      schedule // what happens next, ordered by event time
	seq        uint64   // entries scheduled so far
	out        outQueue // produced messages on their way out
	lastEvent  uint64   // number of the latest event id
	lastTicket uint64   // number of the latest ticket
	pos        uint64   // position of the latest message returned by Next
	skipped    uint64   // Skip's n: repeats of messages up to it are dropped

	channels       []channelProfile
	channelDist    categorical
	teams          [][]byte // names as JSON strings
	teamDist       categorical
	pace           pace
	prios          [events.NumPriorities]priorityProfile
	prioDist       categorical
	csat, nps, ces categorical
	ticketlessKind categorical
	messages       categorical // v2: customer messages after the first reply
	reopenMessages categorical // v2: customer messages after a reopening
	subjects       [numEventTypes]string
	v2             bool   // write contract v2 (not Config.V1)
	ticketLimit    uint64 // for tests: the number of tickets to open, 0 for no end

	run       string // Config.Run
	startHdr  string // the start, as in the Helpdesk-Sim-Start header
	idPrefix  []byte // `{"id":"e-<seed>-`
	buf       []byte // the message being written
	idEnd     int    // end of the id in buf
	day       int64  // day of dayPrefix, in days since the Unix epoch
	dayPrefix []byte // "2006-01-02T" of day
}

// NewGenerator returns a Generator of the stream cfg describes. Zero fields
// take the defaults documented on Config. cfg must be valid: NewGenerator
// panics when cfg.Validate reports an error, so validate configuration that
// comes from users first.
func NewGenerator(cfg Config) *Generator {
	if err := cfg.Validate(); err != nil {
		panic("BUG: simulate.NewGenerator with an invalid Config: " + err.Error())
	}
	start := cfg.Start
	if start.IsZero() {
		start = defaultStart()
	}
	perHour := cfg.TicketsPerHour
	if perHour == 0 {
		perHour = DefaultTicketsPerHour
	}
	g := &Generator{
		rng:            rand.New(rand.NewPCG(cfg.Seed, pcgStream)),
		startMs:        start.UnixMilli(),
		ticketGap:      hour / perHour,
		surveyGap:      hour / (perHour * ticketlessSurveyShare),
		retryProb:      cfg.DuplicateShare / (1 - cfg.DuplicateShare),
		disorderShare:  cfg.DisorderShare,
		pace:           healthyPace(),
		prios:          priorityProfiles(),
		csat:           newCategorical(csatWeights()),
		nps:            newCategorical(npsWeights()),
		ces:            newCategorical(cesWeights()),
		ticketlessKind: newCategorical(ticketlessKindWeights()),
		messages:       newCategorical(messageWeights()),
		reopenMessages: newCategorical(reopenMessageWeights()),
		v2:             !cfg.V1,
		idPrefix:       strconv.AppendUint([]byte(`{"id":"e-`), cfg.Seed, 10),
		day:            -1 << 62,
		run:            cfg.Run(),
		startHdr:       time.UnixMilli(start.UnixMilli()).UTC().Format(startLayout),
	}
	g.idPrefix = append(g.idPrefix, '-')
	if cfg.V1 || cfg.Overloaded {
		g.pace = overloadedPace()
	}

	var weights []float64
	for _, c := range shares(cfg.Channels, defaultChannels()) {
		g.channels = append(g.channels, newChannelProfile(c.name))
		weights = append(weights, c.weight)
	}
	g.channelDist = newCategorical(weights)
	weights = weights[:0]
	for _, t := range shares(cfg.Teams, defaultTeams()) {
		g.teams = append(g.teams, appendJSONString(nil, t.name))
		weights = append(weights, t.weight)
	}
	g.teamDist = newCategorical(weights)
	weights = weights[:0]
	for _, p := range g.prios {
		weights = append(weights, p.share)
	}
	g.prioDist = newCategorical(weights)
	for t := range eventType(numEventTypes) {
		g.subjects[t] = SubjectPrefix + t.String()
	}

	g.schedule(entry{kind: kindArrival, at: g.startMs})
	g.surveyClock = g.rng.ExpFloat64() * g.surveyGap
	g.schedule(entry{kind: kindTicketlessSurvey, at: g.startMs + int64(g.surveyClock)})
	return g
}

// Next returns the next message of the stream. The stream never ends. Event
// times do not decrease from one distinct event to the next, except for the
// deliberately delayed events and the repeats of DuplicateShare.
func (g *Generator) Next() Message {
	for {
		m := g.next()
		if m.dup && m.orig <= g.skipped {
			continue // a repeat of a message before Skip's end: see Skip
		}
		return m.msg
	}
}

// Skip discards the messages up to position n, as if a publisher had sent
// them already, so that the next message is the one at position n+1 of the
// stream. From then on, Next also leaves out the repeats of messages up to
// n, which come a few positions later: JetStream stored their originals
// long ago, possibly outside its duplicate window. Thus Skip(n) on a new
// Generator, then Next, yields exactly the messages of an uninterrupted
// Generator after position n that a stream holding positions 1 to n would
// store. Skip to a position before the current one does nothing.
func (g *Generator) Skip(n uint64) {
	for g.pos < n {
		g.next()
	}
	g.skipped = max(g.skipped, n)
}

// next is Next with the repeats of skipped messages.
func (g *Generator) next() queued {
	for {
		for g.out.distinct <= maxDisorderDistance {
			g.out.pushBack(queued{msg: g.produce()})
		}
		q := g.out.popFront()
		if !q.dup && !q.delayed {
			if g.disorderShare > 0 && g.rng.Float64() < g.disorderShare {
				g.owedDelays++
			}
			// Delay it, but never past an event delayed before it: that
			// would put that one back in order. When there is no room,
			// the next event pays the delay.
			if g.owedDelays > 0 {
				if i := g.out.delayPosition(1 + g.rng.IntN(maxDisorderDistance)); i > 0 {
					g.owedDelays--
					q.delayed = true
					g.out.insert(i, q)
					continue
				}
			}
		}
		g.pos++
		q.msg.Position = g.pos
		if !q.dup && g.retryProb > 0 && g.rng.Float64() < g.retryProb {
			r := queued{msg: q.msg, dup: true, orig: g.pos}
			r.msg.Data = append([]byte(nil), q.msg.Data...)
			g.out.insert(min(g.rng.IntN(maxRetryDistance+1), g.out.n), r)
		}
		return q
	}
}

// produce takes the earliest step off the schedule, schedules what follows
// from it, and returns its event.
func (g *Generator) produce() Message {
	e := g.sched.pop()
	switch e.kind {
	case kindArrival:
		return g.open(e.at)
	case kindTicketlessSurvey:
		g.surveyClock += g.rng.ExpFloat64() * g.surveyGap
		g.schedule(entry{kind: kindTicketlessSurvey, at: g.startMs + int64(g.surveyClock)})
		return g.survey(e.at, 0, events.SurveyKind(1+g.ticketlessKind.draw(g.rng)))
	case kindFirstReply:
		return g.firstReply(e)
	case kindResolve:
		return g.resolve(e)
	case kindReopen:
		return g.reopen(e)
	case kindSurvey:
		return g.survey(e.at, e.ticket, e.survey)
	case kindReply:
		return g.reply(e)
	case kindCustomerMessage:
		return g.customerMessage(e)
	case kindStatus:
		return g.statusChange(e)
	case kindUpdate:
		return g.update(e)
	case kindFirstReplyTwin:
		return g.firstReplyTwin(e)
	case kindEarlyMessage:
		return g.end(g.begin(typeCustomerMessage, e.at, e.ticket), typeCustomerMessage, e.at)
	}
	panic("BUG: simulate: unknown schedule entry kind " + strconv.Itoa(int(e.kind)))
}

func (g *Generator) schedule(e entry) {
	g.seq++
	e.seq = g.seq
	g.sched.push(e)
}

// open opens a new ticket at event time at.
func (g *Generator) open(at int64) Message {
	g.ticketClock += g.rng.ExpFloat64() * g.ticketGap
	if g.ticketLimit == 0 || g.lastTicket+1 < g.ticketLimit {
		g.schedule(entry{kind: kindArrival, at: g.startMs + int64(g.ticketClock)})
	}

	g.lastTicket++
	t := entry{
		ticket:  g.lastTicket,
		channel: uint16(g.channelDist.draw(g.rng)),
		team:    uint16(g.teamDist.draw(g.rng)),
		prio:    events.Priority(g.prioDist.draw(g.rng)),
	}
	ch, p := &g.channels[t.channel], &g.prios[t.prio]
	if g.rng.Float64() < replyShare {
		t.kind = kindFirstReply
		t.at = at + lognormal(g.rng, ch.firstReplyMedian*p.firstReplyFactor*g.pace.firstReply, firstReplySigma, firstReplyMin, g.pace.firstReplyMax)
	} else {
		t.kind = kindResolve
		t.at = at + lognormal(g.rng, g.pace.closeUnansweredMedian, closeUnansweredSigma, min(closeUnansweredMin, g.pace.closeUnansweredMedian), g.pace.closeUnansweredMax)
		t.handle = lognormal(g.rng, triageMedian, handleSigma, 5*second, 10*minute)
	}
	if g.v2 {
		g.openV2(&t, at)
	}
	g.schedule(t)

	b := g.begin(typeOpened, at, t.ticket)
	b = append(b, `,"channel":`...)
	b = append(b, ch.json...)
	b = append(b, `,"priority":"`...)
	b = append(b, t.prio.String()...)
	b = append(b, `","team":`...)
	b = append(b, g.teams[t.team]...)
	return g.end(b, typeOpened, at)
}

func (g *Generator) firstReply(t entry) Message {
	at := t.at
	t.answered = true
	t.agent = g.drawAgent(t.team)
	b := g.begin(typeFirstReply, at, t.ticket)
	b = g.appendAgent(b, t.agent)
	msg := g.end(b, typeFirstReply, at)

	n := drawReplies(g.rng)
	t.replies = n
	t.handle = g.drawHandle(t.channel, n)
	t.kind = kindResolve
	t.at += g.drawResolveDelay(t, n, 1)
	g.schedule(t)
	return msg
}

func (g *Generator) resolve(t entry) Message {
	at := t.at
	if t.answered && g.rng.Float64() >= sameAgentShare {
		t.agent = g.drawAgent(t.team)
	}
	b := g.begin(typeResolved, at, t.ticket)
	if t.agent != 0 {
		b = g.appendAgent(b, t.agent)
	}
	if !g.v2 || g.rng.Float64() < keepRepliesShare {
		b = append(b, `,"replies":`...)
		b = strconv.AppendInt(b, int64(t.replies), 10)
	}
	b = append(b, `,"handle_seconds":`...)
	b = appendDeciseconds(b, t.handle)
	msg := g.end(b, typeResolved, at)

	if t.answered && !t.reopened && g.rng.Float64() < reopenShare {
		t.kind = kindReopen
		t.at += lognormal(g.rng, reopenMedian, reopenSigma, reopenMin, reopenMax)
		g.schedule(t)
		return msg
	}
	for k, share := range [...]float64{events.SurveyCSAT: csatShare, events.SurveyNPS: npsShare, events.SurveyCES: cesShare} {
		if share > 0 && g.rng.Float64() < share {
			g.schedule(entry{
				kind:   kindSurvey,
				at:     at + lognormal(g.rng, surveyMedian, surveySigma, surveyMin, surveyMax),
				ticket: t.ticket,
				survey: events.SurveyKind(k),
			})
		}
	}
	return msg
}

func (g *Generator) reopen(t entry) Message {
	at := t.at
	msg := g.end(g.begin(typeReopened, at, t.ticket), typeReopened, at)

	t.reopened = true
	if g.v2 {
		g.reopenV2(t)
		return msg
	}
	n := drawReplies(g.rng)
	t.replies += n
	t.handle += g.drawHandle(t.channel, n)
	t.kind = kindResolve
	t.at += g.drawResolveDelay(t, n, reresolveFactor)
	g.schedule(t)
	return msg
}

// survey answers a survey of the given kind; ticket 0 means none.
func (g *Generator) survey(at int64, ticket uint64, kind events.SurveyKind) Message {
	var score int
	switch kind {
	case events.SurveyCSAT:
		score = 1 + g.csat.draw(g.rng)
	case events.SurveyNPS:
		score = g.nps.draw(g.rng)
	case events.SurveyCES:
		score = 1 + g.ces.draw(g.rng)
	default:
		panic("BUG: simulate: survey of kind " + kind.String())
	}
	b := g.begin(typeSurvey, at, ticket)
	b = append(b, `,"survey":{"kind":"`...)
	b = append(b, kind.String()...)
	b = append(b, `","score":`...)
	b = strconv.AppendInt(b, int64(score), 10)
	b = append(b, '}')
	return g.end(b, typeSurvey, at)
}

// drawAgent draws an agent of the team; agent numbers start at 1.
func (g *Generator) drawAgent(team uint16) uint32 {
	return uint32(team)*agentsPerTeam + 1 + uint32(g.rng.IntN(agentsPerTeam))
}

// drawHandle draws the agent time, in ms, that n replies on a ticket of the
// channel take.
func (g *Generator) drawHandle(channel uint16, n int32) int64 {
	median := g.channels[channel].handleMedian
	var sum int64
	for range n {
		sum += lognormal(g.rng, median, handleSigma, handleMin, handleMax)
	}
	return sum
}

// drawResolveDelay draws the time from a first reply (or reopening) to the
// resolution that n more replies lead to.
func (g *Generator) drawResolveDelay(t entry, n int32, factor float64) int64 {
	median := g.prios[t.prio].resolveMedian * g.pace.resolve[t.prio] * g.channels[t.channel].resolveFactor * factor * (0.6 + 0.4*float64(n))
	return lognormal(g.rng, median, g.pace.resolveSigma, resolveMin, g.pace.resolveMax)
}
