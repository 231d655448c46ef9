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

// priorityProfile is how a priority shapes a ticket's life.
type priorityProfile struct {
	share            float64
	firstReplyFactor float64 // multiplies the channel's first reply median
	resolveMedian    float64 // ms from first reply to resolution, before the channel factor
}

// priorityProfiles is indexed by events.Priority.
func priorityProfiles() [events.NumPriorities]priorityProfile {
	var p [events.NumPriorities]priorityProfile
	p[events.PriorityNormal] = priorityProfile{0.60, 1, 12 * hour}
	p[events.PriorityLow] = priorityProfile{0.15, 1.8, 30 * hour}
	p[events.PriorityHigh] = priorityProfile{0.18, 0.4, 4 * hour}
	p[events.PriorityUrgent] = priorityProfile{0.07, 0.15, 1.5 * hour}
	return p
}

// channelProfile is how a channel shapes a ticket's life.
type channelProfile struct {
	json             []byte  // the name as a JSON string, quotes included
	firstReplyMedian float64 // ms from opening to first reply, normal priority
	resolveFactor    float64 // multiplies the priority's resolution median
	handleMedian     float64 // agent time per reply, ms
}

func newChannelProfile(name string) channelProfile {
	p := channelProfile{json: appendJSONString(nil, name)}
	switch name {
	case "email":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 2*hour, 1, 5*minute
	case "chat":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 2*minute, 0.15, 4*minute
	case "phone":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 1*minute, 0.1, 7*minute
	case "social":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 30*minute, 0.6, 3*minute
	case "web":
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 90*minute, 0.9, 5*minute
	default:
		p.firstReplyMedian, p.resolveFactor, p.handleMedian = 1*hour, 0.8, 5*minute
	}
	return p
}

// Score weights of survey answers, from the lowest score up. Customers who
// answer are mostly content.
func csatWeights() []float64           { return []float64{6, 5, 10, 27, 52} }                    // 1–5
func npsWeights() []float64            { return []float64{3, 1, 1, 2, 2, 5, 6, 10, 16, 22, 32} } // 0–10
func cesWeights() []float64            { return []float64{4, 5, 8, 13, 20, 27, 23} }             // 1–7, 7 = easiest
func ticketlessKindWeights() []float64 { return []float64{20, 70, 10} }                          // csat, nps, ces

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
