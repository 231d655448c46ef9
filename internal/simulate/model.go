package simulate

import (
	"math"
	"math/rand/v2"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// The model of a ticket's life. Shares are probabilities; delays are
// lognormal, given by their median and the sigma of their logarithm, and
// clamped to a range so that no ticket outlives the aggregator's retention.
const (
	replyShare     = 0.95 // tickets that get a first reply; the rest are closed unanswered
	reopenShare    = 0.08 // resolutions of answered tickets that are reopened (once)
	fcrShare       = 0.72 // resolutions with exactly one reply; replies has a geometric tail
	maxReplies     = 50
	sameAgentShare = 0.8 // resolutions by the agent who replied first
	agentsPerTeam  = 40

	// Shares of resolved tickets whose customer answers each survey kind,
	// after the ticket's last resolution.
	csatShare = 0.25
	npsShare  = 0.10
	cesShare  = 0.08

	// Surveys without ticket (say, a relationship NPS) arrive as a Poisson
	// process at this share of the ticket arrival rate.
	ticketlessSurveyShare = 0.02

	second = 1000.0 // milliseconds
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour

	firstReplySigma = 0.9
	firstReplyMin   = 2 * second
	firstReplyMax   = 7 * day

	resolveSigma = 1.1
	resolveMin   = 30 * second
	resolveMax   = 21 * day

	// Unanswered tickets are closed by an agent or an automation, without
	// reply, after about two days.
	closeUnansweredMedian = 48 * hour
	closeUnansweredSigma  = 0.8
	closeUnansweredMin    = 1 * hour
	closeUnansweredMax    = 14 * day
	triageMedian          = 45 * second // handle time of closing unanswered

	reopenMedian = 20 * hour
	reopenSigma  = 1.0
	reopenMin    = 5 * minute
	reopenMax    = 7 * day
	// A reopened ticket is resolved again faster than the first time.
	reresolveFactor = 0.5

	handleSigma = 0.6
	handleMin   = 20 * second
	handleMax   = 4 * hour

	surveyMedian = 90 * minute
	surveySigma  = 1.2
	surveyMin    = 1 * minute
	surveyMax    = 5 * day
)

// The v2 model: what happens between a ticket's first reply and its
// resolution, in the event types that contract v2 adds. The v1 stream uses
// none of it.
const (
	twinShare         = 0.30  // first replies also sent as ticket.first_reply, same time, own id
	earlyMessageShare = 0.10  // tickets whose customer writes again before the first reply
	pendingShare      = 0.60  // agent replies after which the agent sets the ticket pending
	holdShare         = 0.08  // customer messages after which the ticket waits on hold for a third party
	thanksShare       = 0.15  // conversations whose last customer message is resolved without reply
	pendingOpenShare  = 0.50  // resolutions of a pending ticket that set it open first
	escalateShare     = 0.065 // normal and high tickets raised one priority after the first reply (5% of all)
	transferShare     = 0.05  // answered tickets moved to another team after the first reply
	keepRepliesShare  = 0.20  // resolutions that carry "replies"; the others leave the count to the reply events

	customerSigma = 1.2 // customer answer times; the median is the channel's
	customerMin   = 1 * minute
	customerMax   = 4 * day

	nextReplySigma = 0.8 // agent answer times; the median is the priority's
	nextReplyMin   = 20 * second
	nextReplyMax   = 5 * day

	// An agent sets a status (pending after a reply, on hold after a
	// message) a few seconds after the event that calls for it; a customer
	// message on a pending ticket sets it open within echoDelay.
	statusMedian = 20 * second
	statusSigma  = 1.0
	statusMin    = 1 * second
	statusMax    = 10 * minute
	echoDelay    = 3 * second

	holdMedian = 4 * hour // on hold until the third party answers
	holdSigma  = 1.0
	holdMin    = 10 * minute
	holdMax    = 3 * day

	afterHoldMedian = 10 * minute // from the end of a hold to the reply
	afterHoldSigma  = 0.8

	updateMedian = 15 * minute // from the first reply to an escalation or transfer
	updateSigma  = 1.0
	updateMin    = 30 * second
	updateMax    = 4 * hour

	// The resolution follows the last agent reply after the priority's
	// and channel's resolution median times this factor, or a closing
	// thanks after about thanksMedian.
	lastReplyResolveFactor = 0.5
	thanksMedian           = 20 * minute

	reopenMessageDelay = 5 * second // from a reopening to the customer message that caused it
)

// pace is how fast the helpdesk works: the delays that are the team's to
// make, as factors of the medians above and as upper bounds. Customers'
// delays (their answers, third parties on hold, reopenings, surveys) do
// not depend on it, except that a healthy team does not wait more than a
// day and a half for a customer's answer before it moves on (the
// customer's answer comes by then, or the ticket is resolved).
type pace struct {
	firstReply float64                       // multiplies the first reply medians
	nextReply  float64                       // multiplies the next reply medians
	resolve    [events.NumPriorities]float64 // multiplies the resolution medians, by priority

	resolveSigma  float64 // of the resolution delays
	customerSigma float64 // of the customers' answer times

	firstReplyMax, nextReplyMax, resolveMax, customerMax float64

	// Tickets closed without a reply (spam, duplicates, "never mind").
	closeUnansweredMedian, closeUnansweredMax float64
}

// overloadedPace is the team of Config.Overloaded, and of every v1 stream:
// fewer agents than work, so that the backlog grows for days and the SLA
// alerts fire. It is the only model there was before the healthy one.
func overloadedPace() pace {
	return pace{
		firstReply: 1, nextReply: 1, resolve: [events.NumPriorities]float64{1, 1, 1, 1}, resolveSigma: resolveSigma, customerSigma: customerSigma,
		firstReplyMax: firstReplyMax, nextReplyMax: nextReplyMax, resolveMax: resolveMax, customerMax: customerMax,
		closeUnansweredMedian: closeUnansweredMedian, closeUnansweredMax: closeUnansweredMax,
	}
}

// healthyPace is the default team: it keeps pace with the arrivals, so
// that the backlog levels off within the first day and about 90 to 95% of
// the first reply and resolution clocks are met (see TestModelHealth).
func healthyPace() pace {
	return pace{
		firstReply: 0.4, nextReply: 1, resolveSigma: 0.8, customerSigma: 0.9,
		resolve:       resolveFactors(2.5, 2, 0.4, 0.25),
		firstReplyMax: 1 * day, nextReplyMax: 1 * day, resolveMax: 3 * day, customerMax: 1 * day,
		closeUnansweredMedian: 30 * minute, closeUnansweredMax: 4 * hour,
	}
}

// resolveFactors returns factors indexed by events.Priority.
func resolveFactors(urgent, high, normal, low float64) [events.NumPriorities]float64 {
	var f [events.NumPriorities]float64
	f[events.PriorityUrgent], f[events.PriorityHigh], f[events.PriorityNormal], f[events.PriorityLow] = urgent, high, normal, low
	return f
}

// priorityProfile is how a priority shapes a ticket's life.
type priorityProfile struct {
	share            float64
	firstReplyFactor float64 // multiplies the channel's first reply median
	resolveMedian    float64 // ms from first reply to resolution, before the channel factor
	nextReplyMedian  float64 // v2: ms from a customer message to the agent's reply
}

// priorityProfiles is indexed by events.Priority.
func priorityProfiles() [events.NumPriorities]priorityProfile {
	var p [events.NumPriorities]priorityProfile
	// Next reply medians lie far enough below the default next_reply
	// targets (urgent 1h, high 2h, normal 8h, low 24h) that about 2% of
	// the replies that no hold delays come late.
	p[events.PriorityNormal] = priorityProfile{0.60, 1, 12 * hour, 90 * minute}
	p[events.PriorityLow] = priorityProfile{0.15, 1.8, 30 * hour, 5 * hour}
	p[events.PriorityHigh] = priorityProfile{0.18, 0.4, 4 * hour, 25 * minute}
	p[events.PriorityUrgent] = priorityProfile{0.07, 0.15, 1.5 * hour, 12 * minute}
	return p
}

// channelProfile is how a channel shapes a ticket's life.
type channelProfile struct {
	json             []byte  // the name as a JSON string, quotes included
	firstReplyMedian float64 // ms from opening to first reply, normal priority
	resolveFactor    float64 // multiplies the priority's resolution median
	handleMedian     float64 // agent time per reply, ms
	customerMedian   float64 // v2: ms from an agent reply to the customer's answer
}

func newChannelProfile(name string) channelProfile {
	p := channelProfile{json: appendJSONString(nil, name)}
	switch name {
	case "email":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 2*hour, 1, 5*minute, 3*hour
	case "chat":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 2*minute, 0.15, 4*minute, 3*minute
	case "phone":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 1*minute, 0.1, 7*minute, 20*minute
	case "social":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 30*minute, 0.6, 3*minute, 1*hour
	case "web":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 90*minute, 0.9, 5*minute, 2*hour
	default:
		p.firstReplyMedian, p.resolveFactor, p.handleMedian, p.customerMedian = 1*hour, 0.8, 5*minute, 2*hour
	}
	return p
}

// Score weights of survey answers, from the lowest score up. Customers who
// answer are mostly content.
func csatWeights() []float64           { return []float64{6, 5, 10, 27, 52} }                    // 1–5
func npsWeights() []float64            { return []float64{3, 1, 1, 2, 2, 5, 6, 10, 16, 22, 32} } // 0–10
func cesWeights() []float64            { return []float64{4, 5, 8, 13, 20, 27, 23} }             // 1–7, 7 = easiest
func ticketlessKindWeights() []float64 { return []float64{20, 70, 10} }                          // csat, nps, ces

// Weights of the number of customer messages (v2), from 0 up: after the
// first reply, and after a reopening (whose first message is the one that
// reopened the ticket, so the count starts at 1).
func messageWeights() []float64       { return []float64{55, 25, 13, 7} } // 0–3
func reopenMessageWeights() []float64 { return []float64{75, 25} }        // 1–2

// categorical draws indexes with fixed relative weights.
type categorical []float64 // cumulative weights

func newCategorical(weights []float64) categorical {
	c := make(categorical, len(weights))
	sum := 0.0
	for i, w := range weights {
		sum += w
		c[i] = sum
	}
	return c
}

func (c categorical) draw(rng *rand.Rand) int {
	u := rng.Float64() * c[len(c)-1]
	for i, cum := range c[:len(c)-1] {
		if u < cum {
			return i
		}
	}
	return len(c) - 1
}

// lognormal draws a delay in milliseconds with the given median, clamped to
// [lo, hi].
func lognormal(rng *rand.Rand, median, sigma, lo, hi float64) int64 {
	v := median * math.Exp(sigma*rng.NormFloat64())
	return int64(min(max(v, lo), hi))
}

// drawReplies draws the number of agent replies a resolution needs:
// 1 with probability fcrShare, then a geometric tail.
func drawReplies(rng *rand.Rand) int32 {
	n := int32(1)
	for n < maxReplies && rng.Float64() >= fcrShare {
		n++
	}
	return n
}
