package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// wireEvent is an event as docs/events.md describes it. Pointers tell
// absent fields from zero values.
type wireEvent struct {
	ID            *string  `json:"id"`
	Type          *string  `json:"type"`
	TicketID      *string  `json:"ticket_id"`
	OccurredAt    *string  `json:"occurred_at"`
	Channel       *string  `json:"channel"`
	Priority      *string  `json:"priority"`
	Team          *string  `json:"team"`
	AgentID       *string  `json:"agent_id"`
	Status        *string  `json:"status"`
	Replies       *int     `json:"replies"`
	HandleSeconds *float64 `json:"handle_seconds"`
	Survey        *struct {
		Kind  *string `json:"kind"`
		Score *int    `json:"score"`
	} `json:"survey"`
}

// isUTCMillis reports whether s has the form 2006-01-02T15:04:05.000Z, the
// RFC 3339 form the generator promises.
func isUTCMillis(s string) bool {
	const layout = "dddd-dd-ddTdd:dd:dd.dddZ"
	if len(s) != len(layout) {
		return false
	}
	for i := range len(layout) {
		if layout[i] == 'd' && (s[i] < '0' || s[i] > '9') || layout[i] != 'd' && s[i] != layout[i] {
			return false
		}
	}
	return true
}

// checkContract decodes m and returns an error unless it follows contract
// section 1 and the promises of Message. channels and teams are the allowed
// values; v2 admits the types and fields of contract v2. (It returns an
// error rather than taking a *testing.T so that checking hundreds of
// thousands of messages stays cheap under -race.)
func checkContract(m Message, channels, teams []string, v2 bool) (wireEvent, error) {
	var e wireEvent
	fail := func(format string, args ...any) (wireEvent, error) {
		return e, fmt.Errorf("%s: %s", fmt.Sprintf(format, args...), m.Data)
	}
	if len(m.Data) > 64<<10 {
		return fail("larger than 64 KiB")
	}
	if !utf8.Valid(m.Data) {
		return fail("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fail("decode: %v", err)
	}
	if dec.More() {
		return fail("more than one JSON value")
	}

	switch {
	case e.ID == nil:
		return fail("id missing")
	case *e.ID == "" || utf8.RuneCountInString(*e.ID) > 128:
		return fail("id of %d characters", utf8.RuneCountInString(*e.ID))
	case *e.ID != m.MsgID:
		return fail("MsgID %q differs from id", m.MsgID)
	case e.Type == nil:
		return fail("type missing")
	case m.Subject != "helpdesk.events."+*e.Type:
		return fail("subject %q", m.Subject)
	case e.OccurredAt == nil:
		return fail("occurred_at missing")
	case !isUTCMillis(*e.OccurredAt):
		return fail("occurred_at not in UTC with milliseconds")
	case m.OccurredAt.Location() != time.UTC:
		return fail("OccurredAt in %s", m.OccurredAt.Location())
	}
	at, err := time.Parse(time.RFC3339, *e.OccurredAt)
	if err != nil {
		return fail("occurred_at: %v", err)
	}
	if !at.Equal(m.OccurredAt) {
		return fail("OccurredAt %s differs from occurred_at", m.OccurredAt)
	}

	ticketEvent := strings.HasPrefix(*e.Type, "ticket.")
	if ticketEvent && e.TicketID == nil {
		return fail("ticket_id missing")
	}
	if e.TicketID != nil && (*e.TicketID == "" || utf8.RuneCountInString(*e.TicketID) > 128) {
		return fail("ticket_id of %d characters", utf8.RuneCountInString(*e.TicketID))
	}
	if e.AgentID != nil && (*e.AgentID == "" || !ticketEvent) {
		return fail("bad agent_id")
	}
	switch *e.Type {
	case "ticket.opened":
		switch {
		case e.Channel == nil || !slices.Contains(channels, *e.Channel):
			return fail("channel missing or not configured")
		case e.Priority == nil || !slices.Contains([]string{"low", "normal", "high", "urgent"}, *e.Priority):
			return fail("priority missing or invalid")
		case e.Team == nil || !slices.Contains(teams, *e.Team):
			return fail("team missing or not configured")
		}
	case "ticket.first_reply":
		if e.AgentID == nil {
			return fail("agent_id missing")
		}
	case "ticket.resolved":
		if !v2 && e.Replies == nil || e.Replies != nil && *e.Replies < 0 {
			return fail("replies missing or negative")
		}
		if e.HandleSeconds == nil || *e.HandleSeconds < 0 {
			return fail("handle_seconds missing or negative")
		}
	case "ticket.reopened":
	case "ticket.replied":
		if !v2 || e.AgentID == nil {
			return fail("v2 type in v1, or agent_id missing")
		}
	case "ticket.customer_message":
		if !v2 {
			return fail("v2 type in v1")
		}
	case "ticket.status_changed":
		if !v2 || e.Status == nil || !slices.Contains([]string{"open", "pending", "on_hold"}, *e.Status) {
			return fail("v2 type in v1, or status missing or invalid")
		}
	case "ticket.updated":
		switch {
		case !v2:
			return fail("v2 type in v1")
		case e.Channel == nil && e.Priority == nil && e.Team == nil:
			return fail("none of channel, priority, team")
		case e.Channel != nil && !slices.Contains(channels, *e.Channel):
			return fail("channel not configured")
		case e.Priority != nil && !slices.Contains([]string{"low", "normal", "high", "urgent"}, *e.Priority):
			return fail("priority invalid")
		case e.Team != nil && !slices.Contains(teams, *e.Team):
			return fail("team not configured")
		}
	case "survey.answered":
		if e.Survey == nil || e.Survey.Kind == nil || e.Survey.Score == nil {
			return fail("survey, its kind or its score missing")
		}
		var lo, hi int
		switch *e.Survey.Kind {
		case "csat":
			lo, hi = 1, 5
		case "nps":
			lo, hi = 0, 10
		case "ces":
			lo, hi = 1, 7
		default:
			return fail("unknown survey kind")
		}
		if *e.Survey.Score < lo || *e.Survey.Score > hi {
			return fail("score out of range")
		}
	default:
		return fail("unknown type")
	}
	if *e.Type != "ticket.opened" && *e.Type != "ticket.updated" && (e.Channel != nil || e.Priority != nil || e.Team != nil) {
		return fail("channel, priority or team on a later event")
	}
	if *e.Type != "ticket.resolved" && (e.Replies != nil || e.HandleSeconds != nil) {
		return fail("replies or handle_seconds not on a resolution")
	}
	if *e.Type != "survey.answered" && e.Survey != nil {
		return fail("survey on another type")
	}
	if *e.Type != "ticket.status_changed" && e.Status != nil {
		return fail("status on another type")
	}
	return e, nil
}

// eventNumber returns n of an id "e-<seed>-<n>": the production order.
func eventNumber(id string) (int, error) {
	return strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
}

func generate(cfg Config, n int) []Message {
	g := NewGenerator(cfg)
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = g.Next()
	}
	return msgs
}

func TestGeneratorDeterminism(t *testing.T) {
	const n = 10_000
	custom := Config{
		Seed:           42,
		Start:          time.Date(2025, 3, 30, 0, 59, 59, 999_000_000, time.FixedZone("CEST", 2*3600)),
		TicketsPerHour: 50_000,
		DuplicateShare: 0.1,
		DisorderShare:  0.1,
		Channels:       []string{"email", "portal"},
		Teams:          []string{"l1", "l2", "l3"},
	}
	tests := []struct {
		name string
		a, b Config
		same bool
	}{
		{"same default config", DefaultConfig(), DefaultConfig(), true},
		{"zero config", Config{}, Config{}, true},
		{"same custom config", custom, custom, true},
		{"different seeds", DefaultConfig(), func() Config { c := DefaultConfig(); c.Seed = 2; return c }(), false},
		{"seed 0 and 1", Config{Seed: 0}, Config{Seed: 1}, false},
		{"same v1 config", Config{Seed: 5, V1: true}, Config{Seed: 5, V1: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := generate(tt.a, n), generate(tt.b, n)
			if tt.same {
				require.Equal(t, a, b)
				return
			}
			// Not only the seed in the ids: the times differ too.
			sameTimes := 0
			for i := range a {
				require.NotEqual(t, a[i].MsgID, b[i].MsgID)
				if a[i].OccurredAt.Equal(b[i].OccurredAt) {
					sameTimes++
				}
			}
			require.Less(t, sameTimes, n/100, "streams of different seeds share most event times")
		})
	}
}

func TestGeneratorContract(t *testing.T) {
	const n = 50_000
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"zero value", Config{}},
		{"no disorder or duplicates", Config{Seed: 7, TicketsPerHour: 120}},
		{"many duplicates and much disorder", Config{Seed: 8, DuplicateShare: 0.1, DisorderShare: 0.1}},
		{"load test rate", Config{Seed: 9, TicketsPerHour: 1e6, DuplicateShare: 0.02, DisorderShare: 0.02}},
		// Names that need escaping in JSON; a start before the Unix epoch,
		// not in UTC, finer than milliseconds.
		{"odd names and start", Config{
			Seed:           10,
			Start:          time.Date(1969, 12, 31, 20, 0, 0, 123_456_789, time.FixedZone("BRT", -3*3600)),
			DuplicateShare: 0.05,
			DisorderShare:  0.05,
			Channels:       []string{`say "hi"`, `back\slash`, "tab\there", "Ünïcødé ✓"},
			Teams:          []string{"team/α", "<b>&amp;</b>"},
		}},
	}
	for _, tt := range tests {
		for _, v1 := range []bool{true, false} {
			cfg := tt.cfg
			cfg.V1 = v1
			name := "v2/" + tt.name
			if v1 {
				name = "v1/" + tt.name
			}
			t.Run(name, func(t *testing.T) { testContract(t, cfg, n) })
		}
	}
}

// testContract checks the first n messages of cfg's stream (and as many
// more as complete the tickets they refer to) against the contract and the
// lives of tickets.
func testContract(t *testing.T, cfg Config, n int) {
	t.Parallel()
	channels, teams := cfg.Channels, cfg.Teams
	if len(channels) == 0 {
		channels = DefaultConfig().Channels
	}
	if len(teams) == 0 {
		teams = DefaultConfig().Teams
	}
	start := cfg.Start
	if start.IsZero() {
		start = DefaultConfig().Start
	}

	g := NewGenerator(cfg)
	first := g.Next()
	require.True(t, first.OccurredAt.Equal(start.Truncate(time.Millisecond)), "first event at %s, want Start %s", first.OccurredAt, start)
	require.Equal(t, "helpdesk.events.ticket.opened", first.Subject)

	var (
		seen        = map[string][]byte{} // id -> Data of its first message
		duplicates  int
		distinct    int
		disordered  int
		newestNum   int                        // largest event number so far
		newest      time.Time                  // latest event time among events in order so far
		opened      = map[string]time.Time{}   // ticket -> opened at
		unopened    = map[string]int{}         // ticket -> index of the first message that came before its opening
		lives       = map[string][]wireEvent{} // ticket -> events, for the lifecycle check
		ticketsSeen int
	)
	for i := 0; i < n || len(unopened) > 0; i++ {
		require.Less(t, i, n+100, "tickets referred to but never opened: %v", unopened)
		m := first
		if i > 0 {
			m = g.Next()
		}
		e, err := checkContract(m, channels, teams, !cfg.V1)
		require.NoError(t, err)
		if orig, ok := seen[m.MsgID]; ok {
			require.Equal(t, orig, m.Data, "a repeat must be byte-identical")
			if i < n {
				duplicates++
			}
			continue
		}
		seen[m.MsgID] = m.Data
		// Event numbers count in production order, which is
		// event-time order: an event is late when one produced
		// after it came first.
		num, err := eventNumber(m.MsgID)
		require.NoError(t, err)
		late := num < newestNum
		if !late {
			if m.OccurredAt.Before(newest) {
				t.Fatalf("event time goes back without disorder at %s", m.Data)
			}
			newestNum, newest = num, m.OccurredAt
		}
		if i < n {
			distinct++
			if late {
				disordered++
			}
		}
		if e.TicketID == nil {
			continue
		}
		ticket := *e.TicketID
		lives[ticket] = append(lives[ticket], e)
		if *e.Type == "ticket.opened" {
			_, dup := opened[ticket]
			require.False(t, dup, "ticket %s opened twice", ticket)
			opened[ticket] = m.OccurredAt
			ticketsSeen++
			if j, ok := unopened[ticket]; ok {
				require.True(t, late, "ticket %s: events before its opening, which was not delayed", ticket)
				require.LessOrEqual(t, i-j, 2*maxDisorderDistance+maxRetryDistance, "ticket %s opened too late", ticket)
				delete(unopened, ticket)
			}
			continue
		}
		if at, ok := opened[ticket]; ok {
			require.False(t, m.OccurredAt.Before(at), "%s before its ticket's opening", m.Data)
		} else if _, ok := unopened[ticket]; !ok {
			unopened[ticket] = i
		}
	}

	wantShare := func(what string, got, total int, want float64) {
		t.Helper()
		share := float64(got) / float64(total)
		if want == 0 {
			require.Zero(t, got, "%s", what)
			return
		}
		require.InEpsilon(t, want, share, 0.1, "%s: %d of %d", what, got, total)
	}
	t.Logf("%d messages: %.4f duplicates, %.4f late events", n, float64(duplicates)/float64(n), float64(disordered)/float64(distinct))
	wantShare("duplicates among messages", duplicates, n, cfg.DuplicateShare)
	wantShare("late events among distinct events", disordered, distinct, cfg.DisorderShare)
	require.Greater(t, ticketsSeen, n/10)

	if cfg.V1 {
		for ticket, life := range lives {
			require.NoError(t, checkLifecycle(life), "ticket %s", ticket)
		}
	}
}

// checkLifecycle checks the events of one ticket, in production order:
// opened, first_reply (unless closed unanswered), resolved, optionally
// reopened and resolved again, then surveys. The stream may end anywhere.
// Event times must not decrease, and replies must fit the story.
func checkLifecycle(life []wireEvent) error {
	type numbered struct {
		n int
		e wireEvent
	}
	ordered := make([]numbered, len(life))
	for i, e := range life {
		n, err := eventNumber(*e.ID)
		if err != nil {
			return err
		}
		ordered[i] = numbered{n, e}
	}
	slices.SortFunc(ordered, func(a, b numbered) int { return a.n - b.n })

	// next lists the types allowed after a state; the state is the type of
	// the latest event, refined by what came before.
	const (
		opened     = "opened"
		answered   = "answered"
		unanswered = "closed unanswered"
		resolved   = "resolved"
		reopened   = "reopened"
		final      = "resolved for good"
	)
	next := map[string]map[string]string{
		"":         {"ticket.opened": opened},
		opened:     {"ticket.first_reply": answered, "ticket.resolved": unanswered},
		answered:   {"ticket.resolved": resolved},
		unanswered: {"survey.answered": unanswered},
		resolved:   {"ticket.reopened": reopened, "survey.answered": final},
		reopened:   {"ticket.resolved": final},
		final:      {"survey.answered": final},
	}
	state, replies, prev := "", -1, ""
	for _, o := range ordered {
		e := o.e
		to, ok := next[state][*e.Type]
		if !ok {
			return fmt.Errorf("%s after state %q", *e.Type, state)
		}
		if *e.OccurredAt < prev { // same width, so string order is time order
			return fmt.Errorf("%s at %s, before the previous event at %s", *e.Type, *e.OccurredAt, prev)
		}
		if *e.Type == "ticket.resolved" {
			switch {
			case to == unanswered && (*e.Replies != 0 || e.AgentID != nil):
				return fmt.Errorf("closed unanswered with %d replies or an agent", *e.Replies)
			case to != unanswered && (*e.Replies <= replies || e.AgentID == nil):
				return fmt.Errorf("resolved with %d replies after %d, or without agent", *e.Replies, replies)
			}
			replies = *e.Replies
		}
		state, prev = to, *e.OccurredAt
	}
	return nil
}

func TestGeneratorRealism(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 300,000 messages")
	}
	t.Parallel()
	// 300,000 messages at 60 tickets an hour span two months, so that
	// reopenings, which come up to a week after a resolution, are not cut
	// short by the end of the stream. (The v1 stream: its resolutions
	// carry the replies; TestGeneratorV2Lives checks the shares of v2.)
	const n = 300_000
	cfg := DefaultConfig()
	cfg.TicketsPerHour = 60
	cfg.V1 = true
	msgs := generate(cfg, n)

	count := map[string]int{}
	var opened, resolved, noReply, oneReply, reopened, csat, csatHappy int
	var firstReply = map[string][]time.Duration{} // channel -> first reply times
	tickets := map[string]wireEvent{}             // ticket -> its opening
	openedAt := map[string]time.Time{}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MsgID] {
			continue
		}
		seen[m.MsgID] = true
		var e wireEvent
		require.NoError(t, json.Unmarshal(m.Data, &e))
		switch *e.Type {
		case "ticket.opened":
			opened++
			count["channel "+*e.Channel]++
			count["priority "+*e.Priority]++
			count["team "+*e.Team]++
			tickets[*e.TicketID] = e
			openedAt[*e.TicketID] = m.OccurredAt
		case "ticket.first_reply":
			if o, ok := tickets[*e.TicketID]; ok {
				firstReply[*o.Channel] = append(firstReply[*o.Channel], m.OccurredAt.Sub(openedAt[*e.TicketID]))
			}
		case "ticket.resolved":
			resolved++
			switch *e.Replies {
			case 0:
				noReply++
			case 1:
				oneReply++
			}
		case "ticket.reopened":
			reopened++
		case "survey.answered":
			if *e.Survey.Kind == "csat" {
				csat++
				if *e.Survey.Score >= 4 {
					csatHappy++
				}
			}
		}
	}

	for name, want := range map[string]float64{
		"channel email": 0.45, "channel chat": 0.25, "channel web": 0.15, "channel phone": 0.10, "channel social": 0.05,
		"priority normal": 0.60, "priority low": 0.15, "priority high": 0.18, "priority urgent": 0.07,
		"team technical": 0.35, "team billing": 0.25, "team accounts": 0.20, "team onboarding": 0.12, "team enterprise": 0.08,
	} {
		require.InDelta(t, want, float64(count[name])/float64(opened), 0.01, name)
	}
	// Closed unanswered tickets (5%) have 0 replies; the rest have 1 with
	// probability fcrShare at their first resolution and more at their
	// second, after a reopening.
	resolutionsPerTicket := 1 + replyShare*reopenShare
	require.InDelta(t, (1-replyShare)/resolutionsPerTicket, float64(noReply)/float64(resolved), 0.005, "closed unanswered")
	require.InDelta(t, replyShare*fcrShare/resolutionsPerTicket, float64(oneReply)/float64(resolved), 0.01, "FCR")
	require.InDelta(t, replyShare*reopenShare/resolutionsPerTicket, float64(reopened)/float64(resolved), 0.005, "reopen ratio")
	require.InDelta(t, 0.79, float64(csatHappy)/float64(csat), 0.03, "CSAT")

	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	require.Less(t, median(firstReply["phone"]), 5*time.Minute)
	require.Less(t, median(firstReply["chat"]), 5*time.Minute)
	require.Greater(t, median(firstReply["email"]), 30*time.Minute)
	require.Less(t, median(firstReply["email"]), 4*time.Hour)
}

func TestConfigRealTimeRate(t *testing.T) {
	v1 := DefaultConfig()
	v1.V1 = true
	for _, cfg := range []Config{
		DefaultConfig(),
		{Seed: 3, TicketsPerHour: 300, DuplicateShare: 0.2},
		{Seed: 4, TicketsPerHour: 300, Teams: []string{"only"}}, // no transfers
		v1,
		{Seed: 3, TicketsPerHour: 300, DuplicateShare: 0.2, V1: true},
	} {
		t.Run(fmt.Sprint(cfg.TicketsPerHour, cfg.DuplicateShare, cfg.Teams, cfg.V1), func(t *testing.T) {
			// Count the messages of days 3 to 5, after the warm-up.
			g := NewGenerator(cfg)
			start := g.Next().OccurredAt
			from, to := start.Add(48*time.Hour), start.Add(96*time.Hour)
			got := 0
			for {
				m := g.Next()
				if !m.OccurredAt.Before(to) {
					break
				}
				if !m.OccurredAt.Before(from) {
					got++
				}
			}
			require.InEpsilon(t, cfg.RealTimeRate(), float64(got)/to.Sub(from).Seconds(), 0.05)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings of the error, "" for none
	}{
		{"zero", Config{}, nil},
		{"default", DefaultConfig(), nil},
		{"negative rate", Config{TicketsPerHour: -1}, []string{"TicketsPerHour is -1"}},
		{"NaN rate", Config{TicketsPerHour: math.NaN()}, []string{"TicketsPerHour is NaN"}},
		{"infinite rate", Config{TicketsPerHour: math.Inf(1)}, []string{"TicketsPerHour is +Inf"}},
		{"tiny rate", Config{TicketsPerHour: 0.001}, []string{"TicketsPerHour is 0.001, want a number from 0.01 to 1e+09"}},
		{"shares too large", Config{DuplicateShare: 0.6, DisorderShare: 1}, []string{"DuplicateShare is 0.6", "DisorderShare is 1,"}},
		{"negative share", Config{DisorderShare: -0.1}, []string{"DisorderShare is -0.1"}},
		{"empty channel", Config{Channels: []string{"email", ""}}, []string{`Channels[1] is ""`}},
		{"repeated team", Config{Teams: []string{"a", "b", "a"}}, []string{`Teams[2] is "a", which is listed twice`}},
		{"long team", Config{Teams: []string{strings.Repeat("ü", 129)}}, []string{"Teams[0]", "1 to 128 characters"}},
		{"invalid UTF-8", Config{Channels: []string{"\xff"}}, []string{`Channels[0] is "\xff"`}},
		{"start out of range", Config{Start: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"Start is 9999-01-01T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				require.NotPanics(t, func() { NewGenerator(tt.cfg) })
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				require.Contains(t, err.Error(), want)
			}
			require.PanicsWithValue(t, "BUG: simulate.NewGenerator with an invalid Config: "+err.Error(), func() { NewGenerator(tt.cfg) })
		})
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	for _, bb := range []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"default v1", func() Config { c := DefaultConfig(); c.V1 = true; return c }()},
		// Every ticket opened in the run is still in progress: the
		// schedule grows by one entry every few messages.
		{"1M tickets per hour", Config{Seed: 1, TicketsPerHour: 1e6, DuplicateShare: 0.02, DisorderShare: 0.02}},
		{"1M tickets per hour v1", Config{Seed: 1, TicketsPerHour: 1e6, DuplicateShare: 0.02, DisorderShare: 0.02, V1: true}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			g := NewGenerator(bb.cfg)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				size += len(g.Next().Data)
			}
			b.ReportMetric(float64(size)/float64(b.N), "bytes/msg")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
