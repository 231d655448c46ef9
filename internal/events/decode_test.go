package events

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decoded is an Event with its byte slices as strings, for comparisons.
type decoded struct {
	ID           string
	Type         Type
	TicketID     string
	OccurredAt   int64
	Channel      string
	Priority     Priority
	Changes      uint8
	Status       Status
	Team         string
	AgentID      string
	Replies      int32
	HandleMillis int64
	Survey       SurveyKind
	Score        int8
}

func view(ev *Event) decoded {
	return decoded{
		ID:           string(ev.ID),
		Type:         ev.Type,
		TicketID:     string(ev.TicketID),
		OccurredAt:   ev.OccurredAt,
		Channel:      string(ev.Channel),
		Priority:     ev.Priority,
		Changes:      ev.Changes,
		Status:       ev.Status,
		Team:         string(ev.Team),
		AgentID:      string(ev.AgentID),
		Replies:      ev.Replies,
		HandleMillis: ev.HandleMillis,
		Survey:       ev.Survey,
		Score:        ev.Score,
	}
}

// at returns the Unix nanoseconds of a UTC wall-clock time.
func at(year int, month time.Month, day, hour, minute, sec, nsec int) int64 {
	return time.Date(year, month, day, hour, minute, sec, nsec, time.UTC).UnixNano()
}

// The examples of the v2 event format (docs/events.md).
const (
	exampleOpened     = `{"id":"e-7f3a","type":"ticket.opened","ticket_id":"T-1042","occurred_at":"2026-11-23T08:00:00Z","channel":"email","priority":"high","team":"billing"}`
	exampleFirstReply = `{"id":"e-7f3b","type":"ticket.first_reply","ticket_id":"T-1042","occurred_at":"2026-11-23T08:12:30Z","agent_id":"a-17"}`
	exampleResolved   = `{"id":"e-7f3c","type":"ticket.resolved","ticket_id":"T-1042","occurred_at":"2026-11-23T09:40:00Z","replies":1}`
	exampleSurvey     = `{"id":"e-7f3d","type":"survey.answered","ticket_id":"T-1042","occurred_at":"2026-11-23T10:02:00Z","survey":{"kind":"csat","score":5}}`

	exampleCustomerMessage = `{"id":"e-8a01","type":"ticket.customer_message","ticket_id":"T-1042","occurred_at":"2026-11-23T08:20:00Z"}`
	exampleReplied         = `{"id":"e-8a02","type":"ticket.replied","ticket_id":"T-1042","occurred_at":"2026-11-23T08:31:00Z","agent_id":"a-17"}`
	exampleStatusChanged   = `{"id":"e-8a03","type":"ticket.status_changed","ticket_id":"T-1042","occurred_at":"2026-11-23T08:31:05Z","status":"pending"}`
	exampleUpdated         = `{"id":"e-8a04","type":"ticket.updated","ticket_id":"T-1042","occurred_at":"2026-11-23T08:40:00Z","priority":"urgent","team":"escalations"}`
)

// opened returns a valid ticket.opened with the given extra members
// (starting with a comma) appended.
func opened(extra string) string {
	return `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"` + extra + `}`
}

// resolved returns a valid ticket.resolved with the given extra members.
func resolved(extra string) string {
	return `{"id":"e","type":"ticket.resolved","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"` + extra + `}`
}

// ofType returns a message of type typ with ticket_id, occurred_at and the
// given extra members.
func ofType(typ, extra string) string {
	return `{"id":"e","type":"` + typ + `","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"` + extra + `}`
}

// statusChanged returns a ticket.status_changed with the given extra members.
func statusChanged(extra string) string { return ofType("ticket.status_changed", extra) }

// updated returns a ticket.updated with the given extra members.
func updated(extra string) string { return ofType("ticket.updated", extra) }

// survey returns a valid survey.answered with the given survey value.
func survey(value string) string {
	return `{"id":"e","type":"survey.answered","occurred_at":"2026-11-23T08:00:00Z","survey":` + value + `}`
}

// base returns what opened("") decodes to.
func base() decoded {
	return decoded{ID: "e", Type: TicketOpened, TicketID: "T", OccurredAt: at(2026, 11, 23, 8, 0, 0, 0), Replies: -1, HandleMillis: -1}
}

// with returns base changed by fn.
func with(fn func(*decoded)) decoded {
	d := base()
	fn(&d)
	return d
}

// answered returns what survey(`{"kind":k,"score":score}`) decodes to.
func answered(k SurveyKind, score int8) decoded {
	return decoded{ID: "e", Type: SurveyAnswered, OccurredAt: base().OccurredAt, Replies: -1, HandleMillis: -1, Survey: k, Score: score}
}

// statusOf returns what statusChanged(`,"status":…`) decodes to.
func statusOf(st Status) decoded {
	return with(func(d *decoded) { d.Type, d.Status = TicketStatusChanged, st })
}

// repliesOf returns what resolved(`,"replies":n`) decodes to.
func repliesOf(n int32) decoded {
	return with(func(d *decoded) { d.Type, d.Replies = TicketResolved, n })
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want decoded
	}{
		{
			name: "contract example ticket.opened",
			in:   exampleOpened,
			want: decoded{ID: "e-7f3a", Type: TicketOpened, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 0, 0, 0),
				Channel: "email", Priority: PriorityHigh, Team: "billing", Replies: -1, HandleMillis: -1},
		},
		{
			name: "contract example ticket.first_reply",
			in:   exampleFirstReply,
			want: decoded{ID: "e-7f3b", Type: TicketFirstReply, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 12, 30, 0),
				AgentID: "a-17", Replies: -1, HandleMillis: -1},
		},
		{
			name: "contract example ticket.resolved",
			in:   exampleResolved,
			want: decoded{ID: "e-7f3c", Type: TicketResolved, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 9, 40, 0, 0),
				Replies: 1, HandleMillis: -1},
		},
		{
			name: "contract example survey.answered",
			in:   exampleSurvey,
			want: decoded{ID: "e-7f3d", Type: SurveyAnswered, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 10, 2, 0, 0),
				Replies: -1, HandleMillis: -1, Survey: SurveyCSAT, Score: 5},
		},
		{
			name: "ticket.reopened",
			in:   `{"id":"e","type":"ticket.reopened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`,
			want: with(func(d *decoded) { d.Type = TicketReopened }),
		},
		{
			name: "contract example ticket.customer_message",
			in:   exampleCustomerMessage,
			want: decoded{ID: "e-8a01", Type: TicketCustomerMessage, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 20, 0, 0),
				Replies: -1, HandleMillis: -1},
		},
		{
			name: "contract example ticket.replied",
			in:   exampleReplied,
			want: decoded{ID: "e-8a02", Type: TicketReplied, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 31, 0, 0),
				AgentID: "a-17", Replies: -1, HandleMillis: -1},
		},
		{
			name: "contract example ticket.status_changed",
			in:   exampleStatusChanged,
			want: decoded{ID: "e-8a03", Type: TicketStatusChanged, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 31, 5, 0),
				Status: StatusPending, Replies: -1, HandleMillis: -1},
		},
		{
			name: "contract example ticket.updated",
			in:   exampleUpdated,
			want: decoded{ID: "e-8a04", Type: TicketUpdated, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 8, 40, 0, 0),
				Priority: PriorityUrgent, Changes: ChangePriority | ChangeTeam, Team: "escalations", Replies: -1, HandleMillis: -1},
		},
		{
			name: "ticket.replied without agent_id, with channel, team and priority",
			in:   ofType("ticket.replied", `,"channel":"chat","team":"t","priority":"low"`),
			want: with(func(d *decoded) { d.Type, d.Channel, d.Team, d.Priority = TicketReplied, "chat", "t", PriorityLow }),
		},
		{
			name: "replies and handle_seconds ignored on ticket.replied",
			in:   ofType("ticket.replied", `,"replies":3,"handle_seconds":60`),
			want: with(func(d *decoded) { d.Type = TicketReplied }),
		},
		{
			name: "ticket.customer_message with agent_id and unknown fields",
			in:   ofType("ticket.customer_message", `,"agent_id":"a","body":{"len":120},"status":"pending"`),
			want: with(func(d *decoded) { d.Type, d.AgentID = TicketCustomerMessage, "a" }),
		},
		{name: "status open", in: statusChanged(`,"status":"open"`), want: statusOf(StatusOpen)},
		{name: "status pending", in: statusChanged(`,"status":"pending"`), want: statusOf(StatusPending)},
		{name: "status on_hold", in: statusChanged(`,"status":"on_hold"`), want: statusOf(StatusOnHold)},
		{name: "status escaped", in: statusChanged(`,"status":"on\u005fhold"`), want: statusOf(StatusOnHold)},
		{name: "status with an escaped key", in: statusChanged(`,"st\u0061tus":"pending"`), want: statusOf(StatusPending)},
		{name: "status duplicate: the last wins", in: statusChanged(`,"status":"bogus","status":"pending"`), want: statusOf(StatusPending)},
		{name: "status key is case-sensitive", in: statusChanged(`,"status":"pending","Status":"x"`), want: statusOf(StatusPending)},
		{
			name: "status with channel, priority and team, which are no changes",
			in:   statusChanged(`,"status":"on_hold","channel":"chat","priority":"high","team":"t"`),
			want: with(func(d *decoded) {
				d.Type, d.Status, d.Channel, d.Priority, d.Team = TicketStatusChanged, StatusOnHold, "chat", PriorityHigh, "t"
			}),
		},
		{
			name: "status ignored on ticket.opened, even invalid",
			in:   opened(`,"status":"bogus"`),
			want: base(),
		},
		{
			name: "status of the wrong kind ignored on ticket.resolved",
			in:   resolved(`,"status":{"x":[1]},"replies":1`),
			want: repliesOf(1),
		},
		{
			name: "status with a lone surrogate ignored on ticket.reopened",
			in:   ofType("ticket.reopened", `,"status":"\ud800"`),
			want: with(func(d *decoded) { d.Type = TicketReopened }),
		},
		{
			name: "valid status ignored on ticket.updated",
			in:   updated(`,"team":"t","status":"pending"`),
			want: with(func(d *decoded) { d.Type, d.Changes, d.Team = TicketUpdated, ChangeTeam, "t" }),
		},
		{
			name: "status ignored on survey.answered",
			in:   survey(`{"kind":"csat","score":5},"status":7`),
			want: answered(SurveyCSAT, 5),
		},
		{
			name: "ticket.updated channel only",
			in:   updated(`,"channel":"phone"`),
			want: with(func(d *decoded) { d.Type, d.Changes, d.Channel = TicketUpdated, ChangeChannel, "phone" }),
		},
		{
			name: "ticket.updated priority normal, the zero Priority",
			in:   updated(`,"priority":"normal"`),
			want: with(func(d *decoded) { d.Type, d.Changes = TicketUpdated, ChangePriority }),
		},
		{
			name: "ticket.updated team only, escaped",
			in:   updated(`,"team":"caf\u00e9"`),
			want: with(func(d *decoded) { d.Type, d.Changes, d.Team = TicketUpdated, ChangeTeam, "café" }),
		},
		{
			name: "ticket.updated all three",
			in:   updated(`,"team":"t","priority":"low","channel":"web","agent_id":"a"`),
			want: with(func(d *decoded) {
				d.Type, d.Changes, d.Channel, d.Priority, d.Team, d.AgentID = TicketUpdated, 7, "web", PriorityLow, "t", "a"
			}),
		},
		{
			name: "ticket.updated null fields are absent",
			in:   updated(`,"channel":null,"priority":"high","team":null`),
			want: with(func(d *decoded) { d.Type, d.Changes, d.Priority = TicketUpdated, ChangePriority, PriorityHigh }),
		},
		{
			name: "ticket.updated empty team is a change to unknown",
			in:   updated(`,"team":""`),
			want: with(func(d *decoded) { d.Type, d.Changes = TicketUpdated, ChangeTeam }),
		},
		{
			name: "ticket.updated duplicate: a later null removes the change",
			in:   updated(`,"channel":"chat","channel":null,"team":"t"`),
			want: with(func(d *decoded) { d.Type, d.Changes, d.Team = TicketUpdated, ChangeTeam, "t" }),
		},
		{
			name: "ticket.updated channel and team of 128 characters",
			in:   updated(`,"channel":"` + strings.Repeat("c", 128) + `","team":"` + strings.Repeat("é", 128) + `"`),
			want: with(func(d *decoded) {
				d.Type, d.Changes = TicketUpdated, ChangeChannel|ChangeTeam
				d.Channel, d.Team = strings.Repeat("c", 128), strings.Repeat("é", 128)
			}),
		},
		{
			name: "no changes on ticket.opened with channel, priority and team",
			in:   opened(`,"channel":"chat","priority":"high","team":"t"`),
			want: with(func(d *decoded) { d.Channel, d.Priority, d.Team = "chat", PriorityHigh, "t" }),
		},
		{
			name: "survey.answered without ticket_id",
			in:   survey(`{"kind":"nps","score":0}`),
			want: decoded{ID: "e", Type: SurveyAnswered, OccurredAt: base().OccurredAt, Replies: -1, HandleMillis: -1, Survey: SurveyNPS, Score: 0},
		},
		{
			name: "ces score 7 and unknown survey members",
			in:   survey(`{"comment":"fast","kind":"ces","extra":{"a":[1]},"score":7}`),
			want: decoded{ID: "e", Type: SurveyAnswered, OccurredAt: base().OccurredAt, Replies: -1, HandleMillis: -1, Survey: SurveyCES, Score: 7},
		},
		{
			name: "nps score -0 is 0",
			in:   survey(`{"kind":"nps","score":-0}`),
			want: decoded{ID: "e", Type: SurveyAnswered, OccurredAt: base().OccurredAt, Replies: -1, HandleMillis: -1, Survey: SurveyNPS},
		},
		{
			name: "escapes: \\u00e9, \\\" and a surrogate pair",
			in:   opened(`,"team":"caf\u00e9","agent_id":"say \"hi\"","channel":"\ud83d\ude00 chat","id":"a\\b\/c\n\t"`),
			want: with(func(d *decoded) {
				d.ID, d.Team, d.AgentID, d.Channel = "a\\b/c\n\t", "café", `say "hi"`, "😀 chat"
			}),
		},
		{
			name: "surrogate pair in the id",
			in:   opened(`,"id":"s\ud83d\ude00"`),
			want: with(func(d *decoded) { d.ID = "s\U0001F600" }),
		},
		{
			name: "surrogate pairs at both ends of the range, upper-case hex",
			in:   opened(`,"id":"\uD800\uDC00","ticket_id":"\udbff\udfff"`),
			want: with(func(d *decoded) { d.ID, d.TicketID = "\U00010000", "\U0010FFFF" }),
		},
		{
			name: "two pairs in a row and an escaped U+FFFD",
			in:   opened(`,"team":"\ud83d\ude00\ud83d\ude01\ufffd"`),
			want: with(func(d *decoded) { d.Team = "\U0001F600\U0001F601\uFFFD" }),
		},
		{
			name: "lone surrogates in unknown members and keys are ignored",
			in:   opened(`,"x":"s\ud800","y":["\udc00"],"z":{"k":"\ud800\u0041"},"\ud800":1,"i\udbffd":"x","team\udc00":"y"`),
			want: base(),
		},
		{
			name: "lone surrogate in a survey on ticket.opened, which is ignored",
			in:   opened(`,"survey":{"kind":"\ud800","score":1}`),
			want: base(),
		},
		{
			name: "lone surrogate overridden by a later duplicate",
			in:   opened(`,"team":"\ud800","team":"t"`),
			want: with(func(d *decoded) { d.Team = "t" }),
		},
		{
			name: "escaped key and escaped type",
			in:   `{"\u0069d":"e","type":"ticket\u002eopened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`,
			want: base(),
		},
		{
			name: "raw multi-byte UTF-8 kept",
			in:   opened(`,"team":"Zürich 東京"`),
			want: with(func(d *decoded) { d.Team = "Zürich 東京" }),
		},
		{
			name: "fraction and positive offset",
			in:   `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T10:00:00.5+02:00"}`,
			want: with(func(d *decoded) { d.OccurredAt = at(2026, 11, 23, 8, 0, 0, 500_000_000) }),
		},
		{
			name: "nine fraction digits and negative half-hour offset",
			in:   `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T02:30:00.123456789-05:30"}`,
			want: with(func(d *decoded) { d.OccurredAt = at(2026, 11, 23, 8, 0, 0, 123_456_789) }),
		},
		{
			name: "offset crossing the year boundary",
			in:   `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-12-31T23:30:00-01:00"}`,
			want: with(func(d *decoded) { d.OccurredAt = at(2027, 1, 1, 0, 30, 0, 0) }),
		},
		{
			name: "lower-case t and z",
			in:   `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23t08:00:00.000z"}`,
			want: base(),
		},
		{
			name: "leap day",
			in:   `{"id":"e","type":"ticket.opened","ticket_id":"T","occurred_at":"2024-02-29T00:00:00Z"}`,
			want: with(func(d *decoded) { d.OccurredAt = at(2024, 2, 29, 0, 0, 0, 0) }),
		},
		{
			name: "id of exactly 128 characters",
			in:   opened(`,"id":"` + strings.Repeat("x", 128) + `"`),
			want: with(func(d *decoded) { d.ID = strings.Repeat("x", 128) }),
		},
		{
			name: "id of 128 two-byte characters",
			in:   opened(`,"id":"` + strings.Repeat("é", 128) + `"`),
			want: with(func(d *decoded) { d.ID = strings.Repeat("é", 128) }),
		},
		{
			name: "team of 128 escaped characters",
			in:   opened(`,"team":"` + strings.Repeat(`\u00e9`, 128) + `"`),
			want: with(func(d *decoded) { d.Team = strings.Repeat("é", 128) }),
		},
		{
			name: "all priorities: urgent",
			in:   opened(`,"priority":"urgent"`),
			want: with(func(d *decoded) { d.Priority = PriorityUrgent }),
		},
		{
			name: "priority low",
			in:   opened(`,"priority":"low"`),
			want: with(func(d *decoded) { d.Priority = PriorityLow }),
		},
		{
			name: "priority normal",
			in:   opened(`,"priority":"normal"`),
			want: base(),
		},
		{
			name: "duplicate keys: the last wins",
			in:   opened(`,"priority":"low","priority":"high","team":"a","team":"b"`),
			want: with(func(d *decoded) { d.Priority, d.Team = PriorityHigh, "b" }),
		},
		{
			name: "an invalid value overridden by a later duplicate",
			in:   opened(`,"priority":"bogus","priority":"urgent"`),
			want: with(func(d *decoded) { d.Priority = PriorityUrgent }),
		},
		{
			name: "null optional fields are absent",
			in:   opened(`,"priority":null,"channel":null,"team":null,"agent_id":null,"replies":null,"handle_seconds":null,"survey":null`),
			want: base(),
		},
		{
			name: "empty optional strings are absent",
			in:   opened(`,"channel":"","team":"","agent_id":""`),
			want: base(),
		},
		{
			name: "keys are case-sensitive",
			in:   opened(`,"Team":"x","PRIORITY":"bogus","Replies":"x"`),
			want: base(),
		},
		{
			name: "replies and handle_seconds on ticket.resolved",
			in:   resolved(`,"replies":0,"handle_seconds":12.3456`),
			want: with(func(d *decoded) { d.Type, d.Replies, d.HandleMillis = TicketResolved, 0, 12346 }),
		},
		{
			name: "replies at its maximum and handle_seconds as exponent",
			in:   resolved(`,"replies":1000000,"handle_seconds":1E8`),
			want: with(func(d *decoded) {
				d.Type, d.Replies, d.HandleMillis = TicketResolved, MaxReplies, MaxHandleSeconds*1000
			}),
		},
		{
			name: "handle_seconds rounds to the nearest millisecond",
			in:   resolved(`,"handle_seconds":0.0014,"replies":-0`),
			want: with(func(d *decoded) { d.Type, d.Replies, d.HandleMillis = TicketResolved, 0, 1 }),
		},
		{name: "replies 1.0", in: resolved(`,"replies":1.0`), want: repliesOf(1)},
		{name: "replies 1.00", in: resolved(`,"replies":1.00`), want: repliesOf(1)},
		{name: "replies 1e0", in: resolved(`,"replies":1e0`), want: repliesOf(1)},
		{name: "replies 1E+0", in: resolved(`,"replies":1E+0`), want: repliesOf(1)},
		{name: "replies 10e-1", in: resolved(`,"replies":10e-1`), want: repliesOf(1)},
		{name: "replies 100e-2", in: resolved(`,"replies":100e-2`), want: repliesOf(1)},
		{name: "replies 0.4e1", in: resolved(`,"replies":0.4e1`), want: repliesOf(4)},
		{name: "replies 0.04e2", in: resolved(`,"replies":0.04e2`), want: repliesOf(4)},
		{name: "replies 1e2", in: resolved(`,"replies":1e2`), want: repliesOf(100)},
		{name: "replies 1.5e1", in: resolved(`,"replies":1.5e1`), want: repliesOf(15)},
		{name: "replies 2E00 with a zero-padded exponent", in: resolved(`,"replies":2E00`), want: repliesOf(2)},
		{name: "replies 10.0", in: resolved(`,"replies":10.0`), want: repliesOf(10)},
		{name: "replies 1000000.000 at the maximum", in: resolved(`,"replies":1000000.000`), want: repliesOf(1_000_000)},
		{name: "replies 1e6 at the maximum", in: resolved(`,"replies":1e6`), want: repliesOf(1_000_000)},
		{name: "replies 0.000001e12 at the maximum", in: resolved(`,"replies":0.000001e12`), want: repliesOf(1_000_000)},
		{name: "replies 0.0", in: resolved(`,"replies":0.0`), want: repliesOf(0)},
		{name: "replies -0.0 is 0", in: resolved(`,"replies":-0.0`), want: repliesOf(0)},
		{name: "replies -0e5 is 0", in: resolved(`,"replies":-0e5`), want: repliesOf(0)},
		{name: "replies 0 with an exponent beyond int64", in: resolved(`,"replies":0.00e-99999999999999999999`), want: repliesOf(0)},
		{
			name: "replies of 401 digits scaled back to 1",
			in:   resolved(`,"replies":1` + strings.Repeat("0", 400) + `e-400`),
			want: repliesOf(1),
		},
		{
			name: "replies of 30000 fraction digits scaled up to 3",
			in:   resolved(`,"replies":0.` + strings.Repeat("0", 29999) + `3e30000`),
			want: repliesOf(3),
		},
		{name: "csat score 4.0", in: survey(`{"kind":"csat","score":4.0}`), want: answered(SurveyCSAT, 4)},
		{name: "csat score 4.00", in: survey(`{"kind":"csat","score":4.00}`), want: answered(SurveyCSAT, 4)},
		{name: "csat score 50e-1", in: survey(`{"kind":"csat","score":50e-1}`), want: answered(SurveyCSAT, 5)},
		{name: "nps score 1e1", in: survey(`{"kind":"nps","score":1e1}`), want: answered(SurveyNPS, 10)},
		{name: "nps score -0.0 is 0", in: survey(`{"kind":"nps","score":-0.0}`), want: answered(SurveyNPS, 0)},
		{name: "ces score 0.7E+1", in: survey(`{"kind":"ces","score":0.7E+1}`), want: answered(SurveyCES, 7)},
		{
			name: "replies and handle_seconds ignored on ticket.opened",
			in:   opened(`,"replies":3,"handle_seconds":60`),
			want: base(),
		},
		{
			name: "survey ignored on other types",
			in:   opened(`,"survey":{"kind":"bogus","score":99}`),
			want: base(),
		},
		{
			name: "unknown fields with nested objects and arrays",
			in: opened(`,"meta":{"a":[1,-2.5e+3,{"b":null,"c":[[],{}]}],"d":true,"e":false,"id":"not this"},` +
				`"tags":["x","y\u0041"],"n":0.0,"empty":{},"s":"\ud83d\ude00"`),
			want: base(),
		},
		{
			name: "whitespace everywhere",
			in:   " \r\n\t{ \"id\" : \"e\" ,\n\"type\":\t\"ticket.opened\" , \"ticket_id\":\"T\",\"occurred_at\":\"2026-11-23T08:00:00Z\" \n}\n ",
			want: base(),
		},
		{
			name: "nesting of exactly 512 levels",
			in:   opened(`,"deep":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)),
			want: base(),
		},
		{
			name: "message of exactly MaxSize bytes",
			in:   padTo(opened(`,"pad":""`), MaxSize),
			want: base(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			require.NoError(t, Decode([]byte(tt.in), &ev))
			require.Equal(t, tt.want, view(&ev))
		})
	}
}

// padTo grows the last string of msg, which must end in `"}`, to make msg n
// bytes long.
func padTo(msg string, n int) string {
	return msg[:len(msg)-2] + strings.Repeat("p", n-len(msg)) + msg[len(msg)-2:]
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason Reason
		field  string
	}{
		// Size and syntax.
		{"too large", padTo(opened(`,"pad":""`), MaxSize+1), ReasonTooLarge, ""},
		{"too large beats invalid JSON", "{" + strings.Repeat(" ", MaxSize), ReasonTooLarge, ""},
		{"empty", ``, ReasonInvalidJSON, ""},
		{"whitespace only", " \n", ReasonInvalidJSON, ""},
		{"truncated", exampleOpened[:len(exampleOpened)-1], ReasonInvalidJSON, ""},
		{"truncated in a string", exampleOpened[:20], ReasonInvalidJSON, ""},
		{"truncated after a backslash", `{"id":"e\`, ReasonInvalidJSON, ""},
		{"trailing garbage", exampleOpened + "x", ReasonInvalidJSON, ""},
		{"two objects", exampleOpened + exampleOpened, ReasonInvalidJSON, ""},
		{"top-level array", `[` + exampleOpened + `]`, ReasonInvalidJSON, ""},
		{"top-level string", `"ticket.opened"`, ReasonInvalidJSON, ""},
		{"top-level null", `null`, ReasonInvalidJSON, ""},
		{"invalid UTF-8 in a known string", opened(`,"team":"b\xffd"`), ReasonInvalidJSON, ""},
		{"invalid UTF-8 in an unknown key", opened(`,"\xc3":1`), ReasonInvalidJSON, ""},
		{"UTF-8 encoded surrogate", opened(`,"x":"\xed\xa0\x80"`), ReasonInvalidJSON, ""},
		{"overlong UTF-8", opened(`,"x":"\xc0\xaf"`), ReasonInvalidJSON, ""},
		{"control character in a string", opened(",\"team\":\"a\tb\""), ReasonInvalidJSON, ""},
		{"invalid escape", opened(`,"x":"\x41"`), ReasonInvalidJSON, ""},
		{"short unicode escape", opened(`,"x":"\u12"`), ReasonInvalidJSON, ""},
		{"non-hex unicode escape", opened(`,"x":"\u12g4"`), ReasonInvalidJSON, ""},
		{"single quotes", `{'id':'e'}`, ReasonInvalidJSON, ""},
		{"unquoted key", `{id:"e"}`, ReasonInvalidJSON, ""},
		{"missing colon", `{"id" "e"}`, ReasonInvalidJSON, ""},
		{"trailing comma", opened(`,`), ReasonInvalidJSON, ""},
		{"trailing comma in an array", opened(`,"x":[1,]`), ReasonInvalidJSON, ""},
		{"mismatched brackets", opened(`,"x":[1}`), ReasonInvalidJSON, ""},
		{"leading zero", opened(`,"x":01`), ReasonInvalidJSON, ""},
		{"leading plus", opened(`,"replies":+1`), ReasonInvalidJSON, ""},
		{"bare fraction point", opened(`,"x":1.`), ReasonInvalidJSON, ""},
		{"empty exponent", opened(`,"x":1e`), ReasonInvalidJSON, ""},
		{"lone minus", opened(`,"x":-`), ReasonInvalidJSON, ""},
		{"NaN", opened(`,"handle_seconds":NaN`), ReasonInvalidJSON, ""},
		{"misspelt literal", opened(`,"x":nul`), ReasonInvalidJSON, ""},
		{"capitalised literal", opened(`,"x":True`), ReasonInvalidJSON, ""},
		{"nesting of 513 levels", opened(`,"deep":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)), ReasonInvalidJSON, ""},
		{"invalid JSON beats a missing field", `{"type":"ticket.opened"}}`, ReasonInvalidJSON, ""},

		// id
		{"missing id", `{"type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "id"},
		{"null id", opened(`,"id":null`), ReasonMissingField, "id"},
		{"numeric id", opened(`,"id":7`), ReasonInvalidValue, "id"},
		{"empty id", opened(`,"id":""`), ReasonOutOfRange, "id"},
		{"id of 129 characters", opened(`,"id":"` + strings.Repeat("x", 129) + `"`), ReasonOutOfRange, "id"},
		{"id of 129 two-byte characters", opened(`,"id":"` + strings.Repeat("é", 129) + `"`), ReasonOutOfRange, "id"},
		{"id checked before type", `{"type":"bogus"}`, ReasonMissingField, "id"},
		{"id with a lone high surrogate \\ud800", opened(`,"id":"s\ud800"`), ReasonInvalidValue, "id"},
		{"id with a lone high surrogate \\udbff", opened(`,"id":"s\udbff"`), ReasonInvalidValue, "id"},
		{"id with a lone low surrogate", opened(`,"id":"s\udc00"`), ReasonInvalidValue, "id"},
		{"id with a lone low surrogate \\uDFFF", opened(`,"id":"\uDFFFs"`), ReasonInvalidValue, "id"},
		{"id with a low before a high surrogate", opened(`,"id":"\udc00\ud800"`), ReasonInvalidValue, "id"},
		{"id with a high surrogate and a character", opened(`,"id":"\ud800x\udc00"`), ReasonInvalidValue, "id"},
		{"id with a high surrogate and a non-surrogate escape", opened(`,"id":"\ud800\u0041"`), ReasonInvalidValue, "id"},
		{"id with two high surrogates and a low", opened(`,"id":"\ud83d\ud83d\ude00"`), ReasonInvalidValue, "id"},
		{"id with a high surrogate and an escaped backslash", opened(`,"id":"\ud800\\udc00"`), ReasonInvalidValue, "id"},
		{"id with a lone surrogate, checked before its length", opened(`,"id":"\ud800` + strings.Repeat("x", 200) + `"`), ReasonInvalidValue, "id"},

		// type
		{"missing type", `{"id":"e","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "type"},
		{"array type", opened(`,"type":["ticket.opened"]`), ReasonInvalidValue, "type"},
		{"unknown type", opened(`,"type":"ticket.closed"`), ReasonUnknownType, "type"},
		{"type in the wrong case", opened(`,"type":"Ticket.Opened"`), ReasonUnknownType, "type"},
		{"empty type", opened(`,"type":""`), ReasonUnknownType, "type"},
		{"type with a lone surrogate", opened(`,"type":"ticket.opened\ud800"`), ReasonInvalidValue, "type"},
		{"v2 type in the wrong case", ofType("ticket.Updated", `,"team":"t"`), ReasonUnknownType, "type"},
		{"v2 type with a hyphen", ofType("ticket.status-changed", `,"status":"open"`), ReasonUnknownType, "type"},
		{"v2 type without its prefix", ofType("updated", `,"team":"t"`), ReasonUnknownType, "type"},

		// ticket_id
		{"missing ticket_id on ticket.resolved", `{"id":"e","type":"ticket.resolved","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "ticket_id"},
		{"missing ticket_id on ticket.opened", `{"id":"e","type":"ticket.opened","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "ticket_id"},
		{"missing ticket_id on ticket.replied", `{"id":"e","type":"ticket.replied","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "ticket_id"},
		{"missing ticket_id on ticket.customer_message", `{"id":"e","type":"ticket.customer_message","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "ticket_id"},
		{"missing ticket_id on ticket.status_changed", `{"id":"e","type":"ticket.status_changed","occurred_at":"2026-11-23T08:00:00Z","status":"open"}`, ReasonMissingField, "ticket_id"},
		{"missing ticket_id on ticket.updated", `{"id":"e","type":"ticket.updated","occurred_at":"2026-11-23T08:00:00Z","team":"t"}`, ReasonMissingField, "ticket_id"},
		{"null ticket_id on ticket.replied", ofType("ticket.replied", `,"ticket_id":null`), ReasonMissingField, "ticket_id"},
		{"empty ticket_id on ticket.customer_message", ofType("ticket.customer_message", `,"ticket_id":""`), ReasonOutOfRange, "ticket_id"},
		{"missing ticket_id before missing status", `{"id":"e","type":"ticket.status_changed","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "ticket_id"},
		{"empty ticket_id on survey.answered", survey(`{"kind":"csat","score":5},"ticket_id":""`), ReasonOutOfRange, "ticket_id"},
		{"numeric ticket_id", opened(`,"ticket_id":1042`), ReasonInvalidValue, "ticket_id"},
		{"ticket_id of 129 characters", opened(`,"ticket_id":"` + strings.Repeat("t", 129) + `"`), ReasonOutOfRange, "ticket_id"},
		{"ticket_id with a lone surrogate", opened(`,"ticket_id":"T\ud800"`), ReasonInvalidValue, "ticket_id"},
		{"ticket_id with a lone surrogate on survey.answered", survey(`{"kind":"csat","score":5},"ticket_id":"\udfff"`), ReasonInvalidValue, "ticket_id"},

		// occurred_at
		{"missing occurred_at", `{"id":"e","type":"ticket.opened","ticket_id":"T"}`, ReasonMissingField, "occurred_at"},
		{"numeric occurred_at", opened(`,"occurred_at":1764000000`), ReasonInvalidValue, "occurred_at"},
		{"timestamp without offset", opened(`,"occurred_at":"2026-11-23T08:00:00"`), ReasonInvalidValue, "occurred_at"},
		{"date only", opened(`,"occurred_at":"2026-11-23"`), ReasonInvalidValue, "occurred_at"},
		{"space instead of T", opened(`,"occurred_at":"2026-11-23 08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"February 30", opened(`,"occurred_at":"2026-02-30T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"February 29 of a common year", opened(`,"occurred_at":"2100-02-29T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"April 31", opened(`,"occurred_at":"2026-04-31T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"month 13", opened(`,"occurred_at":"2026-13-01T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"day 0", opened(`,"occurred_at":"2026-11-00T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"hour 24", opened(`,"occurred_at":"2026-11-23T24:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"minute 60", opened(`,"occurred_at":"2026-11-23T08:60:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"leap second", opened(`,"occurred_at":"2026-12-31T23:59:60Z"`), ReasonInvalidValue, "occurred_at"},
		{"ten fraction digits", opened(`,"occurred_at":"2026-11-23T08:00:00.1234567890Z"`), ReasonInvalidValue, "occurred_at"},
		{"empty fraction", opened(`,"occurred_at":"2026-11-23T08:00:00.Z"`), ReasonInvalidValue, "occurred_at"},
		{"offset hour 24", opened(`,"occurred_at":"2026-11-23T08:00:00+24:00"`), ReasonInvalidValue, "occurred_at"},
		{"offset minute 60", opened(`,"occurred_at":"2026-11-23T08:00:00+01:60"`), ReasonInvalidValue, "occurred_at"},
		{"offset without colon", opened(`,"occurred_at":"2026-11-23T08:00:00+0100"`), ReasonInvalidValue, "occurred_at"},
		{"signed year", opened(`,"occurred_at":"+026-11-23T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"year before 1678", opened(`,"occurred_at":"1677-12-31T08:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"year after 2261", opened(`,"occurred_at":"2262-01-01T00:00:00Z"`), ReasonInvalidValue, "occurred_at"},
		{"occurred_at with a lone surrogate", opened(`,"occurred_at":"2026-11-23T08:00:00Z\ud800"`), ReasonInvalidValue, "occurred_at"},

		// channel, team, agent_id
		{"numeric channel", opened(`,"channel":1`), ReasonInvalidValue, "channel"},
		{"team of 129 characters", opened(`,"team":"` + strings.Repeat("t", 129) + `"`), ReasonOutOfRange, "team"},
		{"team of 129 escaped characters", opened(`,"team":"` + strings.Repeat(`\u00e9`, 129) + `"`), ReasonOutOfRange, "team"},
		{"boolean agent_id", opened(`,"agent_id":true`), ReasonInvalidValue, "agent_id"},
		{"channel with a lone surrogate", opened(`,"channel":"chat\ud800"`), ReasonInvalidValue, "channel"},
		{"team with a lone surrogate", opened(`,"team":"\udc00"`), ReasonInvalidValue, "team"},
		{"agent_id with a lone surrogate at the end", opened(`,"agent_id":"a-17\ud83d"`), ReasonInvalidValue, "agent_id"},

		// priority
		{"unknown priority", opened(`,"priority":"critical"`), ReasonInvalidValue, "priority"},
		{"priority in the wrong case", opened(`,"priority":"High"`), ReasonInvalidValue, "priority"},
		{"numeric priority", opened(`,"priority":1`), ReasonInvalidValue, "priority"},
		{"priority with a lone surrogate", opened(`,"priority":"high\ud800"`), ReasonInvalidValue, "priority"},

		// replies
		{"replies -1", resolved(`,"replies":-1`), ReasonOutOfRange, "replies"},
		{"replies 1.5", resolved(`,"replies":1.5`), ReasonInvalidValue, "replies"},
		{"replies 0.5", resolved(`,"replies":0.5`), ReasonInvalidValue, "replies"},
		{"replies 1e-1", resolved(`,"replies":1e-1`), ReasonInvalidValue, "replies"},
		{"replies 1.05e1", resolved(`,"replies":1.05e1`), ReasonInvalidValue, "replies"},
		{"replies 1.0000001e6", resolved(`,"replies":1.0000001e6`), ReasonInvalidValue, "replies"},
		{"replies 1 plus 10^-22, which is 1 as a float64", resolved(`,"replies":1.0000000000000000000001`), ReasonInvalidValue, "replies"},
		{"replies 1e-400", resolved(`,"replies":1e-400`), ReasonInvalidValue, "replies"},
		{"replies 1e with an exponent below int64", resolved(`,"replies":1e-99999999999999999999`), ReasonInvalidValue, "replies"},
		{"replies -0.5 is not an integer before it is negative", resolved(`,"replies":-0.5`), ReasonInvalidValue, "replies"},
		{"replies huge and not an integer", resolved(`,"replies":12345678901234567890.5`), ReasonInvalidValue, "replies"},
		{"replies -1.0", resolved(`,"replies":-1.0`), ReasonOutOfRange, "replies"},
		{"replies 1000001.0", resolved(`,"replies":1000001.0`), ReasonOutOfRange, "replies"},
		{"replies 1e7", resolved(`,"replies":1e7`), ReasonOutOfRange, "replies"},
		{"replies 1e400", resolved(`,"replies":1e400`), ReasonOutOfRange, "replies"},
		{"replies with an exponent beyond int64", resolved(`,"replies":1e99999999999999999999`), ReasonOutOfRange, "replies"},
		{"replies 99999999999999999999999.0", resolved(`,"replies":99999999999999999999999.0`), ReasonOutOfRange, "replies"},
		{"replies as string", resolved(`,"replies":"1"`), ReasonInvalidValue, "replies"},
		{"replies over the maximum", resolved(`,"replies":1000001`), ReasonOutOfRange, "replies"},
		{"replies beyond int64", resolved(`,"replies":99999999999999999999999`), ReasonOutOfRange, "replies"},
		{"invalid replies on ticket.opened", opened(`,"replies":-1`), ReasonOutOfRange, "replies"},

		// handle_seconds
		{"handle_seconds -1", resolved(`,"handle_seconds":-1`), ReasonOutOfRange, "handle_seconds"},
		{"handle_seconds tiny negative", resolved(`,"handle_seconds":-0.001`), ReasonOutOfRange, "handle_seconds"},
		{"handle_seconds over the maximum", resolved(`,"handle_seconds":100000000.001`), ReasonOutOfRange, "handle_seconds"},
		{"handle_seconds overflowing float64", resolved(`,"handle_seconds":1e400`), ReasonOutOfRange, "handle_seconds"},
		{"handle_seconds as string", resolved(`,"handle_seconds":"60"`), ReasonInvalidValue, "handle_seconds"},

		// status
		{"missing status", statusChanged(""), ReasonMissingField, "status"},
		{"null status", statusChanged(`,"status":null`), ReasonMissingField, "status"},
		{"a later null status", statusChanged(`,"status":"open","status":null`), ReasonMissingField, "status"},
		{"status in another case only", statusChanged(`,"Status":"open"`), ReasonMissingField, "status"},
		{"status inside an unknown object only", statusChanged(`,"x":{"status":"open"}`), ReasonMissingField, "status"},
		{"status inside the survey only", statusChanged(`,"survey":{"status":"open"}`), ReasonMissingField, "status"},
		{"numeric status", statusChanged(`,"status":1`), ReasonInvalidValue, "status"},
		{"boolean status", statusChanged(`,"status":true`), ReasonInvalidValue, "status"},
		{"array status", statusChanged(`,"status":["open"]`), ReasonInvalidValue, "status"},
		{"object status", statusChanged(`,"status":{"name":"open"}`), ReasonInvalidValue, "status"},
		{"unknown status", statusChanged(`,"status":"closed"`), ReasonInvalidValue, "status"},
		{"status solved is not a status", statusChanged(`,"status":"solved"`), ReasonInvalidValue, "status"},
		{"status in the wrong case", statusChanged(`,"status":"Pending"`), ReasonInvalidValue, "status"},
		{"status on-hold with a hyphen", statusChanged(`,"status":"on-hold"`), ReasonInvalidValue, "status"},
		{"status with a trailing space", statusChanged(`,"status":"open "`), ReasonInvalidValue, "status"},
		{"empty status", statusChanged(`,"status":""`), ReasonInvalidValue, "status"},
		{"status with a lone surrogate", statusChanged(`,"status":"open\ud800"`), ReasonInvalidValue, "status"},
		{"invalid replies before status", statusChanged(`,"status":"bogus","replies":-1`), ReasonOutOfRange, "replies"},
		{"invalid team before status", statusChanged(`,"team":7`), ReasonInvalidValue, "team"},

		// ticket.updated
		{"ticket.updated without changes", updated(""), ReasonMissingField, "channel"},
		{"ticket.updated with null changes", updated(`,"channel":null,"priority":null,"team":null`), ReasonMissingField, "channel"},
		{"ticket.updated with a later null", updated(`,"team":"t","team":null`), ReasonMissingField, "channel"},
		{"ticket.updated with agent_id and status only", updated(`,"agent_id":"a","status":"pending"`), ReasonMissingField, "channel"},
		{"ticket.updated with changes in another case", updated(`,"Team":"t","PRIORITY":"high"`), ReasonMissingField, "channel"},
		{"ticket.updated with changes in an unknown object", updated(`,"changes":{"team":"t"}`), ReasonMissingField, "channel"},
		{"ticket.updated numeric channel", updated(`,"channel":1`), ReasonInvalidValue, "channel"},
		{"ticket.updated channel of 129 characters", updated(`,"channel":"` + strings.Repeat("c", 129) + `"`), ReasonOutOfRange, "channel"},
		{"ticket.updated team of 129 characters", updated(`,"team":"` + strings.Repeat("t", 129) + `"`), ReasonOutOfRange, "team"},
		{"ticket.updated array team", updated(`,"team":["t"]`), ReasonInvalidValue, "team"},
		{"ticket.updated team with a lone surrogate", updated(`,"team":"t\udc00"`), ReasonInvalidValue, "team"},
		{"ticket.updated unknown priority", updated(`,"priority":"critical"`), ReasonInvalidValue, "priority"},
		{"ticket.updated empty priority", updated(`,"priority":""`), ReasonInvalidValue, "priority"},
		{"ticket.updated numeric priority", updated(`,"priority":2`), ReasonInvalidValue, "priority"},
		{"ticket.updated valid team, priority in the wrong case", updated(`,"team":"t","priority":"High"`), ReasonInvalidValue, "priority"},
		{"ticket.updated invalid handle_seconds before changes", updated(`,"handle_seconds":-1`), ReasonOutOfRange, "handle_seconds"},

		// survey
		{"missing survey", `{"id":"e","type":"survey.answered","occurred_at":"2026-11-23T08:00:00Z"}`, ReasonMissingField, "survey"},
		{"null survey", survey(`null`), ReasonMissingField, "survey"},
		{"survey as string", survey(`"csat:5"`), ReasonInvalidValue, "survey"},
		{"survey as array", survey(`[{"kind":"csat","score":5}]`), ReasonInvalidValue, "survey"},
		{"empty survey", survey(`{}`), ReasonMissingField, "survey.kind"},
		{"survey without score", survey(`{"kind":"csat"}`), ReasonMissingField, "survey.score"},
		{"survey with null score", survey(`{"kind":"csat","score":null}`), ReasonMissingField, "survey.score"},
		{"unknown survey kind", survey(`{"kind":"ppp","score":5}`), ReasonInvalidValue, "survey.kind"},
		{"survey kind in the wrong case", survey(`{"kind":"CSAT","score":5}`), ReasonInvalidValue, "survey.kind"},
		{"numeric survey kind", survey(`{"kind":1,"score":5}`), ReasonInvalidValue, "survey.kind"},
		{"survey kind with a lone surrogate", survey(`{"kind":"csat\udbff","score":5}`), ReasonInvalidValue, "survey.kind"},
		{"csat score 6", survey(`{"kind":"csat","score":6}`), ReasonOutOfRange, "survey.score"},
		{"csat score 0", survey(`{"kind":"csat","score":0}`), ReasonOutOfRange, "survey.score"},
		{"nps score 11", survey(`{"kind":"nps","score":11}`), ReasonOutOfRange, "survey.score"},
		{"nps score -1", survey(`{"kind":"nps","score":-1}`), ReasonOutOfRange, "survey.score"},
		{"ces score 0", survey(`{"kind":"ces","score":0}`), ReasonOutOfRange, "survey.score"},
		{"ces score 8", survey(`{"kind":"ces","score":8}`), ReasonOutOfRange, "survey.score"},
		{"fractional score", survey(`{"kind":"csat","score":4.5}`), ReasonInvalidValue, "survey.score"},
		{"score 4.000001", survey(`{"kind":"csat","score":4.000001}`), ReasonInvalidValue, "survey.score"},
		{"score 1e-1", survey(`{"kind":"nps","score":1e-1}`), ReasonInvalidValue, "survey.score"},
		{"csat score 6.0", survey(`{"kind":"csat","score":6.0}`), ReasonOutOfRange, "survey.score"},
		{"nps score 1.1e1", survey(`{"kind":"nps","score":1.1e1}`), ReasonOutOfRange, "survey.score"},
		{"ces score -1.0e0", survey(`{"kind":"ces","score":-1.0e0}`), ReasonOutOfRange, "survey.score"},
		{"score as string", survey(`{"kind":"csat","score":"5"}`), ReasonInvalidValue, "survey.score"},
		{"huge score", survey(`{"kind":"nps","score":18446744073709551626}`), ReasonOutOfRange, "survey.score"},
		{"the last survey wins as a whole", survey(`{"kind":"csat","score":5},"survey":{"score":3}`), ReasonMissingField, "survey.kind"},
		{"a later null survey", survey(`{"kind":"csat","score":5},"survey":null`), ReasonMissingField, "survey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := Decode([]byte(tt.in), &ev)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.reason, e.Reason, "%v", err)
			require.Equal(t, tt.field, e.Field, "%v", err)
			require.NotEmpty(t, e.Detail)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"priority", opened(`,"priority":"critical"`), "invalid_value: priority: must be one of low, normal, high, urgent"},
		{"missing ticket_id", `{"id":"e","type":"ticket.resolved","occurred_at":"2026-11-23T08:00:00Z"}`,
			"missing_field: ticket_id: required on ticket.resolved; must be a string of 1 to 128 characters"},
		{"nps score", survey(`{"kind":"nps","score":11}`), "out_of_range: survey.score: must be an integer from 0 to 10 for nps"},
		{"lone surrogate", opened(`,"id":"s\ud800"`),
			`invalid_value: id: lone UTF-16 surrogates are not allowed: an escape \ud800 to \udbff must be directly followed by one of \udc00 to \udfff`},
		{"score not an integer", survey(`{"kind":"csat","score":4.5}`), "invalid_value: survey.score: must be an integer from 1 to 5 for csat"},
		{"syntax", `{"id":"e",}`, `invalid_json: unexpected character '}' at offset 10; must be one UTF-8 JSON object`},
		{"truncated", `{"id":"e"`, `invalid_json: unexpected end of input at offset 9; must be one UTF-8 JSON object`},
		{"too large", strings.Repeat(" ", MaxSize+1), "too_large: message must be at most 65536 bytes, got 65537"},
		{"unknown type", opened(`,"type":"ticket.closed"`), "unknown_type: type: must be one of ticket.opened, ticket.first_reply, " +
			"ticket.resolved, ticket.reopened, survey.answered, ticket.replied, ticket.customer_message, ticket.status_changed, ticket.updated"},
		{"missing status", statusChanged(""), "missing_field: status: required on ticket.status_changed; must be one of open, pending, on_hold"},
		{"unknown status", statusChanged(`,"status":"closed"`), "invalid_value: status: must be one of open, pending, on_hold"},
		{"ticket.updated without changes", updated(""), "missing_field: channel: ticket.updated needs at least one of channel, priority, team"},
		{"missing ticket_id on ticket.updated", `{"id":"e","type":"ticket.updated","occurred_at":"2026-11-23T08:00:00Z","team":"t"}`,
			"missing_field: ticket_id: required on ticket.updated; must be a string of 1 to 128 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			require.EqualError(t, Decode([]byte(tt.in), &ev), tt.want)
		})
	}
}

// TestDecodeReuse checks that an Event decoded into again is fully reset and
// that unescaped strings of one message do not overwrite each other.
func TestDecodeReuse(t *testing.T) {
	var ev Event
	full := resolved(`,"id":"\u0031\u0032","ticket_id":"T\u002d1","channel":"ch\u00e0t","team":"t\u00e9am","agent_id":"\u0061gent",` +
		`"priority":"\u0075rgent","replies":2,"handle_seconds":1.5`)
	require.NoError(t, Decode([]byte(full), &ev))
	want := decoded{ID: "12", Type: TicketResolved, TicketID: "T-1", OccurredAt: base().OccurredAt, Channel: "chàt",
		Priority: PriorityUrgent, Team: "téam", AgentID: "agent", Replies: 2, HandleMillis: 1500}
	require.Equal(t, want, view(&ev))

	require.NoError(t, Decode([]byte(exampleSurvey), &ev))
	require.Equal(t, decoded{ID: "e-7f3d", Type: SurveyAnswered, TicketID: "T-1042", OccurredAt: at(2026, 11, 23, 10, 2, 0, 0),
		Replies: -1, HandleMillis: -1, Survey: SurveyCSAT, Score: 5}, view(&ev))

	require.Error(t, Decode([]byte(`{`), &ev))
	require.NoError(t, Decode([]byte(opened("")), &ev))
	require.Equal(t, base(), view(&ev))

	// The fields of the v2 types are reset too.
	require.NoError(t, Decode([]byte(updated(`,"channel":"chat","priority":"urgent","team":"t"`)), &ev))
	require.Equal(t, uint8(ChangeChannel|ChangePriority|ChangeTeam), ev.Changes)
	require.NoError(t, Decode([]byte(opened("")), &ev))
	require.Equal(t, base(), view(&ev))
	require.NoError(t, Decode([]byte(statusChanged(`,"status":"on_hold"`)), &ev))
	require.Equal(t, StatusOnHold, ev.Status)
	require.NoError(t, Decode([]byte(ofType("ticket.replied", "")), &ev))
	require.Equal(t, with(func(d *decoded) { d.Type = TicketReplied }), view(&ev))
	require.Error(t, Decode([]byte(updated("")), &ev))
	require.NoError(t, Decode([]byte(opened("")), &ev))
	require.Equal(t, base(), view(&ev))

	// A larger message with escapes after a smaller one grows the scratch buffer.
	long := opened(`,"team":"` + strings.Repeat(`\u00e9`, 100) + `","agent_id":"` + strings.Repeat(`\u00e8`, 100) + `"`)
	require.NoError(t, Decode([]byte(long), &ev))
	require.Equal(t, strings.Repeat("é", 100), string(ev.Team))
	require.Equal(t, strings.Repeat("è", 100), string(ev.AgentID))
}

// TestDecodeDoesNotAllocate checks the steady state: an Event reused for
// messages no larger than before.
func TestDecodeDoesNotAllocate(t *testing.T) {
	msgs := [][]byte{
		[]byte(exampleOpened), []byte(exampleFirstReply), []byte(exampleResolved), []byte(exampleSurvey),
		[]byte(benchOpened), []byte(benchSurvey),
		[]byte(exampleCustomerMessage), []byte(exampleReplied), []byte(exampleStatusChanged), []byte(exampleUpdated),
		[]byte(benchUpdated), []byte(benchStatusChanged), []byte(statusChanged(`,"status":"on\u005fhold"`)),
		[]byte(resolved(`,"handle_seconds":1234.5678,"team":"t\u00e9am \ud83d\ude00","\u0069d":"x"`)),
		[]byte(resolved(`,"replies":10e-1,"id":"s\udbff\udfff"`)), []byte(survey(`{"kind":"csat","score":4.0}`)),
	}
	var ev Event
	for _, m := range msgs {
		require.NoError(t, Decode(m, &ev))
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, m := range msgs {
			if err := Decode(m, &ev); err != nil {
				panic(err)
			}
		}
	})
	require.Zero(t, allocs)
}

func TestNames(t *testing.T) {
	require.Equal(t, 10, NumTypes)
	want := []string{"invalid", "ticket.opened", "ticket.first_reply", "ticket.resolved", "ticket.reopened", "survey.answered",
		"ticket.replied", "ticket.customer_message", "ticket.status_changed", "ticket.updated"}
	for typ := range Type(NumTypes) {
		require.Equal(t, want[typ], typ.String())
	}
	require.Equal(t, "invalid", Type(NumTypes).String())

	for i, name := range []string{"open", "pending", "on_hold"} {
		st, ok := ParseStatus(name)
		require.True(t, ok, name)
		require.Equal(t, Status(i), st)
		require.Equal(t, name, st.String())
	}
	require.Equal(t, NumStatuses, 3)
	for _, name := range []string{"", "closed", "Open", "on-hold", "solved"} {
		_, ok := ParseStatus(name)
		require.False(t, ok, name)
	}
	require.Equal(t, []int{1, 2, 4}, []int{ChangeChannel, ChangePriority, ChangeTeam})
}
