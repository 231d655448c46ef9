package events

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzDecode checks Decode against an oracle written independently with
// encoding/json, time.Parse, strconv and math/big: both must accept the same
// messages with the same fields, and reject the others for the same reason
// and field.
//
// The contract departs from encoding/json twice, and the oracle states both
// on its own: a string field read with a lone UTF-16 surrogate escape is
// rejected (encoding/json replaces it by U+FFFD), and an integer field takes
// any number whose value is an integer, like 1.0 or 10e-1 (encoding/json
// refuses those for an int).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		exampleOpened, exampleFirstReply, exampleResolved, exampleSurvey, benchOpened, benchSurvey,
		resolved(`,"replies":2,"handle_seconds":1.5e2,"channel":"chat","team":"caf\u00e9","agent_id":"\ud83d\ude00"`),
		survey(`{"kind":"ces","score":3,"x":[{}]},"ticket_id":"T","survey":{"kind":"nps","score":10}`),
		opened(`,"occurred_at":"2026-11-23T02:30:00.123456789-05:30","x":{"a":[1,2.5e-3,true,false,null,"s"]}`),
		opened(`,"\u0069d":"x","type":"ticket\u002eopened","priority":null`),
		resolved(`,"replies":0,"handle_seconds":0,"x":[0,-0,0.0,-0.5E+0,10,1e1]`),
		survey(`{"kind":"nps","score":0}`),
		opened(`,"team":"\"\\\/\b\f\n\r\t\u00e9\ud800","\u0074eam":"\ud83d\ude00"`),
		opened(`,"id":"s\ud800","x":"\udbff"`), opened(`,"id":"s\udbff\udfff","ticket_id":"\ud800\\udc00"`),
		opened(`,"channel":"\ud83d\ud83d\ude00","\ud800":"\udc00"`), survey(`{"kind":"nps\udfff","score":1}`),
		resolved(`,"replies":1.0,"handle_seconds":1.0`), resolved(`,"replies":10e-1`), resolved(`,"replies":0.4E+1`),
		resolved(`,"replies":1e-1`), resolved(`,"replies":-0.0`), resolved(`,"replies":1e99999999999999999999`),
		resolved(`,"replies":0e-99999999999999999999`), resolved(`,"replies":1000000.0000000001`),
		survey(`{"kind":"csat","score":4.0}`), survey(`{"kind":"ces","score":70e-1}`), survey(`{"kind":"nps","score":1.1e1}`),
		// The v2 types.
		exampleCustomerMessage, exampleReplied, exampleStatusChanged, exampleUpdated, benchUpdated, benchStatusChanged,
		statusChanged(`,"status":"open"`), statusChanged(`,"status":"on\u005fhold","st\u0061tus":"pending"`),
		updated(`,"channel":"chat","priority":"normal","team":"t"`), updated(`,"channel":null,"team":""`),
		updated(`,"priority":"low","status":"open","replies":1`), opened(`,"status":"\ud800"`),
		ofType("ticket.replied", `,"status":7,"survey":{"kind":"csat"}`),
		// Rejections.
		exampleOpened[:40], exampleOpened + "}", `[1]`, `null`, ``, opened(`,"team":"\xff"`),
		opened(`,"id":""`), opened(`,"type":"ticket.closed"`), opened(`,"occurred_at":"2026-02-30T08:00:00Z"`),
		opened(`,"priority":"critical"`), resolved(`,"replies":1.5`), resolved(`,"handle_seconds":-1`),
		survey(`{"kind":"csat","score":6}`), survey(`{"kind":"x"}`), `{"id":"e"}`,
		statusChanged(""), statusChanged(`,"status":"closed"`), statusChanged(`,"status":1`), statusChanged(`,"status":"open\udfff"`),
		updated(""), updated(`,"team":null`), updated(`,"priority":"critical"`), updated(`,"channel":["chat"]`),
		`{"id":"e","type":"ticket.customer_message","occurred_at":"2026-11-23T08:00:00Z"}`,
		opened(`,"d":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		want, wantErr := oracle(data)

		// Decode into an Event that holds another message's unescaped
		// strings, to exercise the reuse of the scratch buffer.
		var ev Event
		require.NoError(t, Decode([]byte(opened(`,"team":"caf\u00e9","channel":"\u0041"`)), &ev))
		err := Decode(data, &ev)
		require.Equal(t, orig, data, "Decode modified its input")

		if wantErr != nil {
			var e *Error
			require.ErrorAs(t, err, &e, "oracle rejects with %v", wantErr)
			require.Equal(t, wantErr.Reason, e.Reason, "Decode: %v; oracle: %v", err, wantErr)
			require.Equal(t, wantErr.Field, e.Field, "Decode: %v; oracle: %v", err, wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, view(&ev))
	})
}

// rfc3339 is the timestamp syntax of the contract.
const rfc3339 = `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

// oracle decodes data the slow way, stating the rules of docs/events.md
// once more, in the order Decode checks them.
func oracle(data []byte) (decoded, *Error) {
	fail := func(r Reason, field string) (decoded, *Error) {
		return decoded{}, &Error{Reason: r, Field: field}
	}
	if len(data) > MaxSize {
		return fail(ReasonTooLarge, "")
	}
	if !utf8.Valid(data) || !json.Valid(data) || nesting(data) > maxDepth {
		return fail(ReasonInvalidJSON, "")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fail(ReasonInvalidJSON, "")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fail(ReasonInvalidJSON, "")
	}
	// The same object once more, its members as JSON text, for what
	// encoding/json does not tell: whether a string had a lone surrogate.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		panic(err)
	}
	// get returns a member, nil if absent or null.
	get := func(m map[string]any, key string) any { return m[key] }
	chars := utf8.RuneCountInString
	lone := func(raw map[string]json.RawMessage, key string) bool { return loneSurrogate(raw[key]) }

	out := decoded{Replies: -1, HandleMillis: -1}

	switch id := get(m, "id").(type) {
	case nil:
		return fail(ReasonMissingField, "id")
	case string:
		if lone(raw, "id") {
			return fail(ReasonInvalidValue, "id")
		}
		if chars(id) < 1 || chars(id) > 128 {
			return fail(ReasonOutOfRange, "id")
		}
		out.ID = id
	default:
		return fail(ReasonInvalidValue, "id")
	}

	switch typ := get(m, "type").(type) {
	case nil:
		return fail(ReasonMissingField, "type")
	case string:
		if lone(raw, "type") {
			return fail(ReasonInvalidValue, "type")
		}
		types := map[string]Type{"ticket.opened": TicketOpened, "ticket.first_reply": TicketFirstReply,
			"ticket.resolved": TicketResolved, "ticket.reopened": TicketReopened, "survey.answered": SurveyAnswered,
			"ticket.replied": TicketReplied, "ticket.customer_message": TicketCustomerMessage,
			"ticket.status_changed": TicketStatusChanged, "ticket.updated": TicketUpdated}
		if out.Type, ok = types[typ]; !ok {
			return fail(ReasonUnknownType, "type")
		}
	default:
		return fail(ReasonInvalidValue, "type")
	}

	switch tid := get(m, "ticket_id").(type) {
	case nil:
		if out.Type != SurveyAnswered {
			return fail(ReasonMissingField, "ticket_id")
		}
	case string:
		if lone(raw, "ticket_id") {
			return fail(ReasonInvalidValue, "ticket_id")
		}
		if chars(tid) < 1 || chars(tid) > 128 {
			return fail(ReasonOutOfRange, "ticket_id")
		}
		out.TicketID = tid
	default:
		return fail(ReasonInvalidValue, "ticket_id")
	}

	switch ts := get(m, "occurred_at").(type) {
	case nil:
		return fail(ReasonMissingField, "occurred_at")
	case string:
		if lone(raw, "occurred_at") || !regexp.MustCompile(rfc3339).MatchString(ts) {
			return fail(ReasonInvalidValue, "occurred_at")
		}
		tm, err := time.Parse(time.RFC3339Nano, strings.ToUpper(ts))
		if err != nil {
			return fail(ReasonInvalidValue, "occurred_at")
		}
		// The local year must be one whose instants all fit in int64
		// nanoseconds. time.Parse accepts offsets up to 24:60 when the
		// layout is not exactly RFC 3339; the contract does not.
		y, _ := strconv.Atoi(ts[:4])
		oh, _ := strconv.Atoi(ts[len(ts)-5 : len(ts)-3])
		om, _ := strconv.Atoi(ts[len(ts)-2:])
		if y < 1678 || y > 2261 || !strings.ContainsAny(ts, "Zz") && (oh > 23 || om > 59) {
			return fail(ReasonInvalidValue, "occurred_at")
		}
		out.OccurredAt = tm.UnixNano()
	default:
		return fail(ReasonInvalidValue, "occurred_at")
	}

	for _, opt := range []struct {
		name string
		dst  *string
	}{{"channel", &out.Channel}, {"team", &out.Team}, {"agent_id", &out.AgentID}} {
		switch s := get(m, opt.name).(type) {
		case nil:
		case string:
			if lone(raw, opt.name) {
				return fail(ReasonInvalidValue, opt.name)
			}
			if chars(s) > 128 {
				return fail(ReasonOutOfRange, opt.name)
			}
			*opt.dst = s
		default:
			return fail(ReasonInvalidValue, opt.name)
		}
	}

	switch p := get(m, "priority").(type) {
	case nil:
	case string:
		if out.Priority, ok = ParsePriority(p); !ok || lone(raw, "priority") {
			return fail(ReasonInvalidValue, "priority")
		}
	default:
		return fail(ReasonInvalidValue, "priority")
	}

	// integer returns the value of a JSON number that is an integer, however
	// it is written (1, 1.0, 10e-1), and false if v is not such a number.
	integer := func(v any) (*big.Int, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		r := exactValue(n)
		return r.Num(), r.IsInt()
	}

	if r := get(m, "replies"); r != nil {
		n, ok := integer(r)
		if !ok {
			return fail(ReasonInvalidValue, "replies")
		}
		if !n.IsInt64() || n.Int64() < 0 || n.Int64() > MaxReplies {
			return fail(ReasonOutOfRange, "replies")
		}
		if out.Type == TicketResolved {
			out.Replies = int32(n.Int64())
		}
	}

	if h := get(m, "handle_seconds"); h != nil {
		n, ok := h.(json.Number)
		if !ok {
			return fail(ReasonInvalidValue, "handle_seconds")
		}
		s, err := n.Float64()
		if err != nil || s < 0 || s > MaxHandleSeconds {
			return fail(ReasonOutOfRange, "handle_seconds")
		}
		if out.Type == TicketResolved {
			out.HandleMillis = int64(math.Round(s * 1000))
		}
	}

	switch out.Type {
	case TicketStatusChanged:
		switch st := get(m, "status").(type) {
		case nil:
			return fail(ReasonMissingField, "status")
		case string:
			statuses := map[string]Status{"open": StatusOpen, "pending": StatusPending, "on_hold": StatusOnHold}
			if out.Status, ok = statuses[st]; !ok || lone(raw, "status") {
				return fail(ReasonInvalidValue, "status")
			}
		default:
			return fail(ReasonInvalidValue, "status")
		}
		return out, nil
	case TicketUpdated:
		// Any of the three that is present (not null) is a change; its
		// value was checked above.
		for bit, name := range map[uint8]string{ChangeChannel: "channel", ChangePriority: "priority", ChangeTeam: "team"} {
			if get(m, name) != nil {
				out.Changes |= bit
			}
		}
		if out.Changes == 0 {
			return fail(ReasonMissingField, "channel")
		}
		return out, nil
	case SurveyAnswered:
	default:
		return out, nil
	}
	var sm map[string]any
	var rawSurvey map[string]json.RawMessage
	switch s := get(m, "survey").(type) {
	case nil:
		return fail(ReasonMissingField, "survey")
	case map[string]any:
		sm = s
		if err := json.Unmarshal(raw["survey"], &rawSurvey); err != nil {
			panic(err)
		}
	default:
		return fail(ReasonInvalidValue, "survey")
	}
	switch k := get(sm, "kind").(type) {
	case nil:
		return fail(ReasonMissingField, "survey.kind")
	case string:
		kinds := map[string]SurveyKind{"csat": SurveyCSAT, "nps": SurveyNPS, "ces": SurveyCES}
		if out.Survey, ok = kinds[k]; !ok || lone(rawSurvey, "kind") {
			return fail(ReasonInvalidValue, "survey.kind")
		}
	default:
		return fail(ReasonInvalidValue, "survey.kind")
	}
	score := get(sm, "score")
	if score == nil {
		return fail(ReasonMissingField, "survey.score")
	}
	n, ok := integer(score)
	if !ok {
		return fail(ReasonInvalidValue, "survey.score")
	}
	lo, hi := out.Survey.ScoreRange()
	if !n.IsInt64() || n.Int64() < int64(lo) || n.Int64() > int64(hi) {
		return fail(ReasonOutOfRange, "survey.score")
	}
	out.Score = int8(n.Int64())
	return out, nil
}

// escape matches one escape in JSON string text.
var escape = regexp.MustCompile(`\\(u[0-9a-fA-F]{4}|[^u])`)

// loneSurrogate reports whether the JSON string lit (quotes included) has a
// \u escape of a UTF-16 surrogate that is not half of a pair: a high one,
// D800 to DBFF, directly followed by the escape of a low one, DC00 to DFFF.
func loneSurrogate(lit json.RawMessage) bool {
	s := string(lit)
	high := -1 // the end of a high surrogate's escape waiting for its low one
	for _, m := range escape.FindAllStringIndex(s, -1) {
		var u uint64
		if s[m[0]+1] == 'u' {
			u, _ = strconv.ParseUint(s[m[0]+2:m[1]], 16, 16)
		}
		isHigh, isLow := 0xD800 <= u && u <= 0xDBFF, 0xDC00 <= u && u <= 0xDFFF
		switch {
		case high >= 0 && isLow && m[0] == high:
			high = -1
		case high >= 0 || isLow:
			return true
		case isHigh:
			high = m[1]
		}
	}
	return high >= 0
}

// exactValue returns the exact value of the JSON number n.
//
// big.Rat refuses exponents beyond a million and is slow on large ones, so
// an exponent beyond ±(len(n)+30) is first clamped to that. This changes
// neither whether the value is an integer nor, for one, whether it is below
// 10^30: n has fewer than len(n) digits, so fewer fraction digits and fewer
// trailing zeros, and such an exponent makes a nonzero value an integer of
// more than 30 digits if positive and leaves a fraction if negative.
func exactValue(n json.Number) *big.Rat {
	s := string(n)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, _ := strconv.ParseInt(s[i+1:], 10, 64) // saturates on overflow
		c := int64(len(s) + 30)
		s = s[:i] + "e" + strconv.FormatInt(min(max(e, -c), c), 10)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("big.Rat refuses the JSON number " + s)
	}
	return r
}

// nesting returns the deepest nesting of arrays and objects in the valid
// JSON text data.
func nesting(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
