package simulate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// DefaultTicketsPerHour is the arrival rate used when Config.TicketsPerHour
// is 0: ten new tickets a minute of event time.
const DefaultTicketsPerHour = 600

// Limits of Config.
const (
	minTicketsPerHour = 0.01
	maxTicketsPerHour = 1e9
	maxShare          = 0.5
	maxNames          = math.MaxUint16
	maxStartYear      = 9000 // leaves the stream a millennium before timestamps need five digits
)

// Config describes a synthetic stream. The zero value of Start,
// TicketsPerHour, Channels and Teams selects the default of DefaultConfig;
// the zero value of a share means none.
type Config struct {
	// Seed selects the stream: the same Config always yields the same
	// messages. It is also part of every event id, so streams of different
	// seeds never share an id.
	Seed uint64

	// Start is the event time of the first ticket.opened, in the years 1 to
	// 9000. Event times are written in UTC with millisecond precision;
	// finer parts are dropped. A demo against a live aggregator wants
	// time.Now() here, and Publish paced at RealTimeRate, since the
	// aggregator rejects events from the future.
	Start time.Time

	// TicketsPerHour is the mean arrival rate of new tickets in event time,
	// from 0.01 to 1e9; arrivals form a Poisson process. Each ticket yields
	// about 7.3 events, 3.5 with V1 (see RealTimeRate).
	TicketsPerHour float64

	// V1 selects the stream of contract v1: only the types ticket.opened,
	// ticket.first_reply, ticket.resolved (always with "replies"),
	// ticket.reopened and survey.answered, and for the same Config exactly
	// the messages that this package wrote before v2, so that recorded
	// runs and benchmarks stay comparable. Without it the stream speaks
	// contract v2: each agent reply as ticket.replied, customer messages,
	// pending and on-hold periods, escalations and transfers (see the
	// package documentation).
	V1 bool

	// Overloaded selects a team in crisis instead of a healthy one: first
	// replies and resolutions take two to three times as long and have
	// tails of days, unanswered tickets wait two days to be closed, so the
	// backlog grows for days and the SLA alerts fire. By default the team
	// keeps pace: the backlog levels off within the first day of the
	// stream, and about 90 to 95% of first replies and resolutions meet
	// the contract's default targets. A v1 stream always has the
	// overloaded team, the only one there was when v1 was current, so
	// that it stays the same message for message.
	Overloaded bool

	// DuplicateShare, from 0 to 0.5, is the share of all messages that
	// repeat an earlier message with the same id and body, as a publish
	// retry would. A repeat follows its original after at most three other
	// messages.
	DuplicateShare float64

	// DisorderShare, from 0 to 0.5, is the share of distinct events emitted
	// after some of their successors in event time: each such event is
	// moved back behind one to five of the events that follow it.
	DisorderShare float64

	// Channels are the values of "channel" on ticket.opened. Empty, or
	// the default list in its order (email, chat, web, phone, social),
	// means shares of 45%, 25%, 15%, 10% and 5%. In any other list earlier
	// names are more frequent: the share of the i-th (from 0) is
	// proportional to 1/(i+1). The well-known names email, chat, phone,
	// social and web get their own response times; others get middling
	// ones.
	Channels []string

	// Teams are the values of "team" on ticket.opened, with shares chosen
	// like those of Channels. Empty, or the default list in its order,
	// means technical 35%, billing 25%, accounts 20%, onboarding 12%,
	// enterprise 8%.
	Teams []string
}

// DefaultConfig returns a Config for demos: seed 1, 2% duplicates, 2%
// disorder, and the defaults that zero values stand for: start
// 2026-01-05T08:00:00Z (a Monday), 600 tickets an hour, and the default
// channels and teams.
func DefaultConfig() Config {
	cfg := Config{
		Seed:           1,
		Start:          defaultStart(),
		TicketsPerHour: DefaultTicketsPerHour,
		DuplicateShare: 0.02,
		DisorderShare:  0.02,
	}
	for _, c := range defaultChannels() {
		cfg.Channels = append(cfg.Channels, c.name)
	}
	for _, t := range defaultTeams() {
		cfg.Teams = append(cfg.Teams, t.name)
	}
	return cfg
}

// Validate reports every field that NewGenerator would refuse, naming the
// field and the accepted values.
func (c Config) Validate() error {
	var errs []error
	if !c.Start.IsZero() {
		if y := c.Start.UTC().Year(); y < 1 || y > maxStartYear {
			errs = append(errs, fmt.Errorf("simulate: Start is %s, want a time in the years 1 to %d (or zero for the default)", c.Start.Format(time.RFC3339), maxStartYear))
		}
	}
	if c.TicketsPerHour != 0 && !(c.TicketsPerHour >= minTicketsPerHour && c.TicketsPerHour <= maxTicketsPerHour) {
		errs = append(errs, fmt.Errorf("simulate: TicketsPerHour is %v, want a number from %g to %g (or 0 for the default %d)", c.TicketsPerHour, minTicketsPerHour, float64(maxTicketsPerHour), DefaultTicketsPerHour))
	}
	if !validShare(c.DuplicateShare) {
		errs = append(errs, fmt.Errorf("simulate: DuplicateShare is %v, want a number from 0 to %v", c.DuplicateShare, maxShare))
	}
	if !validShare(c.DisorderShare) {
		errs = append(errs, fmt.Errorf("simulate: DisorderShare is %v, want a number from 0 to %v", c.DisorderShare, maxShare))
	}
	errs = append(errs, validateNames("Channels", c.Channels)...)
	errs = append(errs, validateNames("Teams", c.Teams)...)
	return errors.Join(errs...)
}

// Run returns what identifies the stream of c apart from its start: the
// contract version, the seed, the arrival rate, the shares, the team's
// model and the channels and teams, normalised so that zero values and
// their defaults read the same. Publishers write it in the
// Helpdesk-Sim-Run header, so that a simulator can tell whether a stream
// holds its own run (see LastStored). It is one line of printable text.
func (c Config) Run() string {
	var b strings.Builder
	version, model := "v2", "healthy"
	if c.V1 {
		version = "v1"
	}
	if c.V1 || c.Overloaded {
		model = "overloaded"
	}
	perHour := c.TicketsPerHour
	if perHour == 0 {
		perHour = DefaultTicketsPerHour
	}
	fmt.Fprintf(&b, "contract=%s seed=%d tickets-per-hour=%g duplicates=%g disorder=%g team=%s", version, c.Seed, perHour, c.DuplicateShare, c.DisorderShare, model)
	names := func(key string, names []string, defaults []weighted) {
		if isDefault(names, defaults) {
			return
		}
		b.WriteString(" " + key + "=")
		for i, n := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.QuoteToASCII(n))
		}
	}
	names("channels", c.Channels, defaultChannels())
	names("teams", c.Teams, defaultTeams())
	return b.String()
}

// RealTimeRate returns the long-run mean number of messages per second of
// event time, duplicates included. Publishing at this rate keeps event time
// in step with the wall clock once the first day of tickets has run its
// course (the stream starts with openings only, so the rate is lower at
// first).
func (c Config) RealTimeRate() float64 {
	perHour := c.TicketsPerHour
	if perHour == 0 {
		perHour = DefaultTicketsPerHour
	}
	perTicket := 1 + // ticket.opened
		replyShare + // ticket.first_reply
		1 + // ticket.resolved
		replyShare*reopenShare*2 + // ticket.reopened, ticket.resolved
		csatShare + npsShare + cesShare + // survey.answered
		ticketlessSurveyShare
	if !c.V1 {
		perTicket += c.v2ExtraEventsPerTicket()
	}
	return perHour * perTicket / (1 - c.DuplicateShare) / 3600
}

// v2ExtraEventsPerTicket returns the mean number of events per ticket that
// the v2 stream has beyond those of v1 (its ticket.replied events stand in
// for v1's ticket.first_reply).
func (c Config) v2ExtraEventsPerTicket() float64 {
	// mean returns the mean of the count that weights describes, from from
	// up, and the probability that it is above from.
	mean := func(weights []float64, from float64) (mean, above float64) {
		var sum, n float64
		for i, w := range weights {
			sum += w
			n += w * (from + float64(i))
		}
		return n / sum, 1 - weights[0]/sum
	}
	p, h := pendingShare, holdShare

	// The conversation after the first reply: m customer messages, the
	// last a closing thanks (no reply) with probability thanks. Each agent
	// turn may set the ticket pending; a customer message ends that
	// period with status open, the resolution does or sets it open first.
	m, some := mean(messageWeights(), 0)
	thanks := thanksShare * some
	turns := 1 + m - thanks
	first := turns + // ticket.replied, the first included
		m + // ticket.customer_message
		p*turns + p*m + p*(1-thanks)*pendingOpenShare + 2*h*(m-thanks) + // ticket.status_changed
		twinShare // ticket.first_reply beside the first ticket.replied
	prios := priorityProfiles()
	escalate := escalateShare * (prios[events.PriorityNormal].share + prios[events.PriorityHigh].share)
	transfer := 0.0
	if len(c.Teams) != 1 {
		transfer = transferShare
	}
	first += 1 - (1-escalate)*(1-transfer) // ticket.updated

	// After a reopening, r messages (the first reopened the ticket), each
	// answered.
	r, _ := mean(reopenMessageWeights(), 1)
	again := 2*r + // ticket.customer_message, ticket.replied
		p*r + p*(r-1) + p*pendingOpenShare + 2*h*r // ticket.status_changed

	return earlyMessageShare + replyShare*(first-1+reopenShare*again)
}

func validShare(s float64) bool {
	return s >= 0 && s <= maxShare // false for NaN
}

func validateNames(field string, names []string) []error {
	var errs []error
	if len(names) > maxNames {
		errs = append(errs, fmt.Errorf("simulate: %s has %d names, want at most %d", field, len(names), maxNames))
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		switch {
		case n == "" || utf8.RuneCountInString(n) > events.MaxIDLen || !utf8.ValidString(n):
			errs = append(errs, fmt.Errorf("simulate: %s[%d] is %q, want valid UTF-8 of 1 to %d characters", field, i, n, events.MaxIDLen))
		case seen[n]:
			errs = append(errs, fmt.Errorf("simulate: %s[%d] is %q, which is listed twice; want distinct names", field, i, n))
		}
		seen[n] = true
	}
	return errs
}

func defaultStart() time.Time {
	return time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)
}

// isDefault reports whether names stands for the defaults: empty, or the
// defaults in their order.
func isDefault(names []string, defaults []weighted) bool {
	return len(names) == 0 || slices.EqualFunc(names, defaults, func(n string, d weighted) bool { return n == d.name })
}

// weighted is a name with its relative share.
type weighted struct {
	name   string
	weight float64
}

func defaultChannels() []weighted {
	return []weighted{{"email", 45}, {"chat", 25}, {"web", 15}, {"phone", 10}, {"social", 5}}
}

func defaultTeams() []weighted {
	return []weighted{{"technical", 35}, {"billing", 25}, {"accounts", 20}, {"onboarding", 12}, {"enterprise", 8}}
}

// shares returns names with their relative shares: defaults when names is
// empty or lists the defaults in order, otherwise shares proportional to
// 1/(i+1).
func shares(names []string, defaults []weighted) []weighted {
	if isDefault(names, defaults) {
		return defaults
	}
	w := make([]weighted, len(names))
	for i, n := range names {
		w[i] = weighted{n, 1 / float64(i+1)}
	}
	return w
}
