package events_test

// The JSON Schema of an event, docs/event.schema.json, held to the decoder:
// every example of the documentation and every event the webhook mappings
// produce passes both; every refusal docs/events.md shows is the decoder's
// own message; and, over many generated events, what the schema accepts
// the decoder accepts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

const (
	schemaFile = "../../docs/event.schema.json"
	eventsDoc  = "../../docs/events.md"
	readme     = "../../README.md"
	fixtures   = "../webhook/testdata/*/*.events.json"
)

// loadSchema compiles docs/event.schema.json.
func loadSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(schemaFile)
	require.NoError(t, err)
	return sch
}

// schemaErr validates raw against sch; a document that is not JSON is an
// error too.
func schemaErr(sch *jsonschema.Schema, raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}

// requireValid checks that raw passes the schema and the decoder.
func requireValid(t *testing.T, sch *jsonschema.Schema, where string, raw []byte) {
	t.Helper()
	var ev events.Event
	require.NoError(t, events.Decode(raw, &ev), "%s: decoder: %s", where, raw)
	require.NoError(t, schemaErr(sch, raw), "%s: schema: %s", where, raw)
}

// fencedBlocks returns the contents of the ``` blocks of doc tagged lang;
// of the README, those of its section "Events" only (the others show API
// answers, not events).
func fencedBlocks(t *testing.T, doc, lang string) []string {
	t.Helper()
	raw, err := os.ReadFile(doc)
	require.NoError(t, err)
	src := string(raw)
	if doc == readme {
		_, src, _ = strings.Cut(src, "\n## Events\n")
		require.NotEmpty(t, src, "README: no section Events")
		src, _, _ = strings.Cut(src, "\n## ")
	}
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```")
	var blocks []string
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// jsonValues splits a block into its JSON values (one, or NDJSON), each
// event of an array on its own.
func jsonValues(t *testing.T, where, block string) [][]byte {
	t.Helper()
	var out [][]byte
	dec := json.NewDecoder(strings.NewReader(block))
	for dec.More() {
		var raw json.RawMessage
		require.NoError(t, dec.Decode(&raw), "%s: not JSON:\n%s", where, block)
		if bytes.HasPrefix(raw, []byte("[")) {
			var elems []json.RawMessage
			require.NoError(t, json.Unmarshal(raw, &elems))
			for _, e := range elems {
				out = append(out, e)
			}
			continue
		}
		out = append(out, raw)
	}
	return out
}

// TestDocExamplesValid: every JSON example of docs/events.md and the
// README is an event both the schema and the decoder accept, and so are
// the bodies of the README's nats and Go publishing examples, published
// to the subject of their type.
func TestDocExamplesValid(t *testing.T) {
	sch := loadSchema(t)
	types := map[string]int{}
	for _, doc := range []string{eventsDoc, readme} {
		n := 0
		for i, block := range fencedBlocks(t, doc, "json") {
			for _, raw := range jsonValues(t, fmt.Sprintf("%s block %d", doc, i), block) {
				requireValid(t, sch, doc, raw)
				var ev events.Event
				require.NoError(t, events.Decode(raw, &ev))
				if doc == eventsDoc {
					types[ev.Type.String()]++
				}
				n++
			}
		}
		require.NotZero(t, n, "%s: no JSON examples found", doc)
	}
	// docs/events.md has an example of each type.
	for typ := events.TicketOpened; int(typ) < events.NumTypes; typ++ {
		require.NotZero(t, types[typ.String()], "docs/events.md has no example of %s", typ)
	}

	// The README's nats pub: the body, with the time the shell would put
	// in; the subject is that of the body's type.
	sh := strings.Join(fencedBlocks(t, readme, "sh"), "\n")
	sh = strings.ReplaceAll(sh, "\\\n", " ")
	pub := regexp.MustCompile(`nats pub --jetstream (\S+) -H Nats-Msg-Id:(\S+)\s+'(.*)'`).FindStringSubmatch(sh)
	require.NotNil(t, pub, "README: no nats pub example")
	body := strings.ReplaceAll(pub[3], `'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'`, "2026-12-01T12:00:00Z")
	requireValid(t, sch, "README nats pub", []byte(body))
	var ev events.Event
	require.NoError(t, events.Decode([]byte(body), &ev))
	require.Equal(t, "helpdesk.events."+ev.Type.String(), pub[1])
	require.Equal(t, string(ev.ID), pub[2], "Nats-Msg-Id is the event's id")

	// The README's Go example: the body with the time it formats.
	goSrc := strings.Join(fencedBlocks(t, readme, "go"), "\n")
	m := regexp.MustCompile("nats.NewMsg\\(\"(\\S+)\"\\)\n.*MsgIDHeader, \"(\\S+)\"\\).*\n.*fmt.Appendf\\(nil, `(.*)`").FindStringSubmatch(goSrc)
	require.NotNil(t, m, "README: no Go publishing example")
	body = fmt.Sprintf(m[3], "2026-12-01T12:00:00.123456789Z")
	requireValid(t, sch, "README Go", []byte(body))
	require.NoError(t, events.Decode([]byte(body), &ev))
	require.Equal(t, "helpdesk.events."+ev.Type.String(), m[1])
	require.Equal(t, string(ev.ID), m[2], "Nats-Msg-Id is the event's id")
}

// TestDocRefusalsExact: every refusal docs/events.md shows, a message
// followed by a line "→ error", is refused by the decoder with exactly
// that error, and by the schema.
func TestDocRefusalsExact(t *testing.T) {
	sch := loadSchema(t)
	n := 0
	reasons := map[events.Reason]bool{}
	for _, block := range fencedBlocks(t, eventsDoc, "text") {
		lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
		for i := 1; i < len(lines); i++ {
			want, ok := strings.CutPrefix(lines[i], "→ ")
			if !ok {
				continue
			}
			msg := []byte(lines[i-1])
			var ev events.Event
			err := events.Decode(msg, &ev)
			require.Error(t, err, "%s", msg)
			require.Equal(t, want, err.Error(), "%s", msg)
			var rejected *events.Error
			require.ErrorAs(t, err, &rejected)
			reasons[rejected.Reason] = true
			if !bytes.Contains(msg, []byte(`\ud800`)) { // the schema cannot see a lone surrogate (see docs/events.md)
				require.Error(t, schemaErr(sch, msg), "the schema accepts %s", msg)
			}
			n++
		}
	}
	require.Equal(t, 22, n, "refusal examples in docs/events.md")
	// Decode's own reasons all have an example; too_large and future
	// are shown as messages alone.
	for _, r := range events.Reasons() {
		if r != events.ReasonTooLarge && r != events.ReasonFuture {
			require.True(t, reasons[r], "docs/events.md has no example of %s", r)
		}
	}
	var ev events.Event
	big := []byte(`{"id":"e-1","type":"ticket.opened","ticket_id":"T-1","occurred_at":"2026-11-23T08:00:00Z","x":"`)
	big = append(big, strings.Repeat("a", 70_000-len(big)-2)...)
	big = append(big, `"}`...)
	require.Equal(t, 70_000, len(big))
	require.EqualError(t, events.Decode(big, &ev), "too_large: message must be at most 65536 bytes, got 70000")
}

// TestFixtureEventsValid: the expected events of every webhook fixture,
// as written by hand, pass the schema and the decoder.
func TestFixtureEventsValid(t *testing.T) {
	sch := loadSchema(t)
	files, err := filepath.Glob(fixtures)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var evs []json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &evs), f)
		for _, e := range evs {
			requireValid(t, sch, f, e)
			n++
		}
	}
	require.Greater(t, n, 40, "events in the webhook fixtures")
}

// TestSchemaBoundaries: hand-picked cases at the edges of each rule, with
// the verdict written by hand; schema and decoder both give it.
func TestSchemaBoundaries(t *testing.T) {
	sch := loadSchema(t)
	base := `"id":"e-1","ticket_id":"T-1"`
	opened := func(rest string) string {
		return `{` + base + `,"type":"ticket.opened",` + rest + `}`
	}
	at := func(ts string) string { return opened(`"occurred_at":"` + ts + `"`) }
	survey := func(kind, score string) string {
		return `{"id":"s","type":"survey.answered","occurred_at":"2026-11-23T08:00:00Z","survey":{"kind":"` + kind + `","score":` + score + `}}`
	}
	ok := `"occurred_at":"2026-11-23T08:00:00Z"`
	for _, c := range []struct {
		name  string
		event string
		valid bool
	}{
		{"plain", at("2026-11-23T08:00:00Z"), true},
		{"month 13", at("2026-13-01T08:00:00Z"), false},
		{"month 00", at("2026-00-01T08:00:00Z"), false},
		{"day 00", at("2026-11-00T08:00:00Z"), false},
		{"April 31", at("2026-04-31T08:00:00Z"), false},
		{"December 31", at("2026-12-31T08:00:00Z"), true},
		{"February 29 of a common year", at("2026-02-29T08:00:00Z"), false},
		{"February 29 of a leap year", at("2028-02-29T08:00:00Z"), true},
		{"February 29 of 1900", at("1900-02-29T08:00:00Z"), false},
		{"February 29 of 2000", at("2000-02-29T08:00:00Z"), true},
		{"February 29 of 2260", at("2260-02-29T08:00:00Z"), true},
		{"February 30", at("2028-02-30T08:00:00Z"), false},
		{"hour 24", at("2026-11-23T24:00:00Z"), false},
		{"minute 60", at("2026-11-23T08:60:00Z"), false},
		{"leap second", at("2026-12-31T23:59:60Z"), false},
		{"year 1677", at("1677-12-31T23:59:59Z"), false},
		{"year 1678", at("1678-01-01T00:00:00Z"), true},
		{"year 2261", at("2261-12-31T23:59:59.999999999-23:59"), true},
		{"year 2262", at("2262-01-01T00:00:00Z"), false},
		{"9 fraction digits", at("2026-11-23T08:00:00.123456789Z"), true},
		{"10 fraction digits", at("2026-11-23T08:00:00.1234567890Z"), false},
		{"empty fraction", at("2026-11-23T08:00:00.Z"), false},
		{"lower case t and z", at("2026-11-23t08:00:00z"), true},
		{"offset 23:59", at("2026-11-23T08:00:00+23:59"), true},
		{"offset 24:00", at("2026-11-23T08:00:00+24:00"), false},
		{"offset minutes 60", at("2026-11-23T08:00:00-05:60"), false},
		{"no offset", at("2026-11-23T08:00:00"), false},
		{"space", at("2026-11-23 08:00:00Z"), false},
		{"offset without colon", at("2026-11-23T08:00:00+0100"), false},
		{"trailing newline", at(`2026-11-23T08:00:00Z\n`), false},
		{"id of 128 characters", `{"id":"` + strings.Repeat("é", 128) + `","type":"ticket.opened","ticket_id":"T",` + ok + `}`, true},
		{"id of 129 characters", `{"id":"` + strings.Repeat("é", 129) + `","type":"ticket.opened","ticket_id":"T",` + ok + `}`, false},
		{"id of 128 astral characters", `{"id":"` + strings.Repeat("😀", 128) + `","type":"ticket.opened","ticket_id":"T",` + ok + `}`, true},
		{"team of 129 characters", opened(ok + `,"team":"` + strings.Repeat("t", 129) + `"`), false},
		{"empty team", opened(ok + `,"team":""`), true},
		{"null team", opened(ok + `,"team":null`), true},
		{"ticket_id null on a ticket type", `{"id":"e","type":"ticket.replied","ticket_id":null,` + ok + `}`, false},
		{"ticket_id null on a survey", `{"id":"s","type":"survey.answered","ticket_id":null,` + ok + `,"survey":{"kind":"nps","score":0}}`, true},
		{"empty ticket_id on a survey", `{"id":"s","type":"survey.answered","ticket_id":"",` + ok + `,"survey":{"kind":"nps","score":0}}`, false},
		{"replies 1.0", opened(ok + `,"replies":1.0`), true},
		{"replies 1e0", opened(ok + `,"replies":1e0`), true},
		{"replies 10e-1", opened(ok + `,"replies":10e-1`), true},
		{"replies 1.5", opened(ok + `,"replies":1.5`), false},
		{"replies 1000000", opened(ok + `,"replies":1000000`), true},
		{"replies 1000001", opened(ok + `,"replies":1000001`), false},
		{"replies -0", opened(ok + `,"replies":-0`), true},
		{"replies as a string", opened(ok + `,"replies":"1"`), false},
		{"handle_seconds 100000000", opened(ok + `,"handle_seconds":100000000`), true},
		{"handle_seconds 100000000.5", opened(ok + `,"handle_seconds":100000000.5`), false},
		{"handle_seconds 1e400", opened(ok + `,"handle_seconds":1e400`), false},
		{"priority in capitals", opened(ok + `,"priority":"HIGH"`), false},
		{"csat 5.0", survey("csat", "5.0"), true},
		{"csat 0", survey("csat", "0"), false},
		{"nps 0", survey("nps", "0"), true},
		{"nps 10", survey("nps", "10"), true},
		{"ces 7", survey("ces", "7"), true},
		{"ces 8", survey("ces", "8"), false},
		{"ces 1.5", survey("ces", "1.5"), false},
		{"survey null", `{"id":"s","type":"survey.answered",` + ok + `,"survey":null}`, false},
		{"status on a resolution is ignored", `{` + base + `,"type":"ticket.resolved",` + ok + `,"status":"bogus"}`, true},
		{"status null", `{` + base + `,"type":"ticket.status_changed",` + ok + `,"status":null}`, false},
		{"update to an empty channel", `{` + base + `,"type":"ticket.updated",` + ok + `,"channel":""}`, true},
		{"update with only nulls", `{` + base + `,"type":"ticket.updated",` + ok + `,"channel":null,"team":null}`, false},
		{"duplicate key, the last wins", `{` + base + `,"type":"ticket.escalated","type":"ticket.opened",` + ok + `}`, true},
		{"key in capitals is unknown", `{` + base + `,"Type":"ticket.opened",` + ok + `}`, false},
		{"escaped key", `{"\u0069d":"e","type":"ticket.opened","ticket_id":"T",` + ok + `}`, true},
		{"type null", `{` + base + `,"type":null,` + ok + `}`, false},
		{"not an object", `["x"]`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev events.Event
			derr := events.Decode([]byte(c.event), &ev)
			serr := schemaErr(sch, []byte(c.event))
			require.Equal(t, c.valid, derr == nil, "decoder on %s: %v", c.event, derr)
			require.Equal(t, c.valid, serr == nil, "schema on %s: %v", c.event, serr)
		})
	}
}

// TestSchemaAcceptsOnlyWhatDecoderAccepts generates events, valid ones
// and ones broken in small ways, and requires of each that the decoder
// accepts it when the schema does. The other direction (the decoder
// accepts, the schema refuses) is reported, not asserted.
func TestSchemaAcceptsOnlyWhatDecoderAccepts(t *testing.T) {
	sch := loadSchema(t)
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	g := gen{rand.New(rand.NewPCG(13, 2026))}
	var both, neither, schemaOnly, decoderOnly int
	var ev events.Event
	for range n {
		raw, err := json.Marshal(g.event())
		require.NoError(t, err)
		dok := events.Decode(raw, &ev) == nil
		serr := schemaErr(sch, raw)
		switch sok := serr == nil; {
		case dok && sok:
			both++
		case !dok && !sok:
			neither++
		case sok:
			schemaOnly++
			if schemaOnly <= 10 {
				t.Errorf("the schema accepts what the decoder refuses (%v): %s", events.Decode(raw, &ev), raw)
			}
		default:
			decoderOnly++
			if decoderOnly <= 5 {
				t.Logf("the decoder accepts what the schema refuses: %s\n%v", raw, serr)
			}
		}
	}
	t.Logf("%d events: %d accepted by both, %d refused by both, %d accepted by the schema only, %d accepted by the decoder only",
		n, both, neither, schemaOnly, decoderOnly)
	// The generator is worth something only if it makes both kinds.
	require.Greater(t, both, n/5, "valid events generated")
	require.Greater(t, neither, n/5, "invalid events generated")
}

// gen makes random events: mostly plausible, each field now and then
// absent, null, of another JSON type or just outside its range.
type gen struct{ r *rand.Rand }

func (g gen) one(p float64) bool { return g.r.Float64() < p }

func (g gen) pick(vs ...any) any { return vs[g.r.IntN(len(vs))] }

var validTypes = []string{
	"ticket.opened", "ticket.first_reply", "ticket.replied", "ticket.customer_message",
	"ticket.status_changed", "ticket.updated", "ticket.resolved", "ticket.reopened", "survey.answered",
}

// wrongType returns a value of a JSON type no field of an event has:
// not a string.
func (g gen) wrongType() any {
	return g.pick(42, 1.5, true, false, []any{"a"}, map[string]any{"a": 1}, json.Number("0"))
}

// str returns a string whose length lies around 0, 1, 127 to 129, or
// anywhere below, of ASCII, two-byte, or astral characters.
func (g gen) str() string {
	n := g.pick(0, 1, 2, 127, 128, 129, g.r.IntN(140)).(int)
	ch := g.pick("a", "é", "😀", "\u00a0", "\"", "\\", "\x00", "\ufffd").(string)
	var b strings.Builder
	for i := range n {
		if i%7 == 3 {
			b.WriteString(ch)
		} else {
			b.WriteByte('a' + byte(i%26))
		}
	}
	return b.String()
}

// maybe sets m[k] to v most of the time, or leaves it out, sets it to
// null or to a value of a wrong type.
func (g gen) maybe(m map[string]any, k string, v any, pBroken float64) {
	if !g.one(pBroken) {
		m[k] = v
		return
	}
	switch g.r.IntN(3) {
	case 0: // absent
	case 1:
		m[k] = nil
	default:
		m[k] = g.wrongType()
	}
}

func (g gen) event() map[string]any {
	m := map[string]any{}
	typ := validTypes[g.r.IntN(len(validTypes))]
	if g.one(0.05) {
		typ = g.pick("ticket.closed", "", "TICKET.OPENED", "ticket.opened ", "survey", "ticket.").(string)
	}
	id := "e-" + fmt.Sprint(g.r.IntN(1000))
	if g.one(0.15) {
		id = g.str()
	}
	g.maybe(m, "id", id, 0.03)
	g.maybe(m, "type", typ, 0.03)
	ticket := "T-" + fmt.Sprint(g.r.IntN(1000))
	if g.one(0.15) {
		ticket = g.str()
	}
	g.maybe(m, "ticket_id", ticket, 0.08)
	g.maybe(m, "occurred_at", g.timestamp(), 0.03)
	for _, k := range []string{"channel", "team", "agent_id"} {
		if g.one(0.4) {
			v := g.pick("email", "chat", "", "billing", "a-17").(string)
			if g.one(0.2) {
				v = g.str()
			}
			g.maybe(m, k, v, 0.1)
		}
	}
	if g.one(0.4) {
		g.maybe(m, "priority", g.pick("low", "normal", "high", "urgent", "urgent", "p1", "High", "").(string), 0.1)
	}
	if typ == "ticket.status_changed" || g.one(0.1) {
		g.maybe(m, "status", g.pick("open", "pending", "on_hold", "on_hold", "closed", "Open", "").(string), 0.1)
	}
	if typ == "ticket.resolved" || g.one(0.1) {
		if g.one(0.5) {
			g.maybe(m, "replies", g.number(-1, 0, 1, 2, 1_000_000, 1_000_001), 0.1)
		}
		if g.one(0.5) {
			g.maybe(m, "handle_seconds", g.pick(json.Number("0"), json.Number("-0.0"), json.Number("540.5"),
				json.Number("1e8"), json.Number("100000000.001"), json.Number("-1"), json.Number("1e400"),
				json.Number("0.0004"), json.Number("1E2")), 0.1)
		}
	}
	if typ == "survey.answered" || g.one(0.05) {
		g.maybe(m, "survey", g.survey(), 0.08)
	}
	if g.one(0.1) {
		m["extra"] = g.pick("x", nil, map[string]any{"id": 1, "type": nil}, []any{1, "2"})
	}
	return m
}

// number returns an integer of vs, spelled in one of the ways JSON
// allows, now and then with a fraction instead.
func (g gen) number(vs ...int) any {
	v := vs[g.r.IntN(len(vs))]
	switch g.r.IntN(8) {
	case 0:
		return json.Number(fmt.Sprintf("%d.0", v))
	case 1:
		return json.Number(fmt.Sprintf("%de0", v))
	case 2:
		if v == 0 {
			return json.Number("0.0e1")
		}
		return json.Number(fmt.Sprintf("%d0e-1", v))
	case 3:
		return json.Number(fmt.Sprintf("%d.5", v))
	case 4:
		return json.Number(fmt.Sprintf("%de-1", v))
	}
	return v
}

func (g gen) survey() any {
	s := map[string]any{}
	kind := g.pick("csat", "nps", "ces", "csat", "nps", "ces", "stars", "CSAT", "").(string)
	lo, hi := map[string][2]int{"csat": {1, 5}, "nps": {0, 10}, "ces": {1, 7}}[kind][0], map[string][2]int{"csat": {1, 5}, "nps": {0, 10}, "ces": {1, 7}}[kind][1]
	if hi == 0 {
		lo, hi = 0, 10
	}
	g.maybe(s, "kind", kind, 0.08)
	g.maybe(s, "score", g.number(lo-1, lo, lo+1, hi-1, hi, hi+1), 0.08)
	if g.one(0.05) {
		return g.pick("csat", 5, []any{"csat", 5})
	}
	return s
}

// timestamp returns an RFC 3339 time, often at an edge that is valid (a
// leap day, the first and last years, offsets, 9 fraction digits), or
// now and then wrong in one small way.
func (g gen) timestamp() string {
	year := g.pick(2026, 2026, 2028, 2000, 1678, 2261, 1700+g.r.IntN(500)).(int)
	month := 1 + g.r.IntN(12)
	day := 1 + g.r.IntN(28)
	if g.one(0.1) {
		month, day = 2, 29
		year = g.pick(2028, 2000, 2260, 1680, 2024).(int)
	}
	hour, minute, sec := g.r.IntN(24), g.r.IntN(60), g.r.IntN(60)
	frac := g.pick("", "", ".5", ".123456789", ".000").(string)
	zone := g.pick("Z", "Z", "z", "+01:00", "-05:30", "+23:59", "-00:00").(string)
	sep := g.pick("T", "T", "t").(string)
	if g.one(0.35) {
		switch g.r.IntN(14) {
		case 0:
			year = g.pick(1677, 2262, 1600, 9999).(int)
		case 1:
			month = g.pick(0, 13, 99).(int)
		case 2:
			day = g.pick(0, 32).(int)
		case 3:
			month, day = g.pick(4, 6, 9, 11).(int), 31
		case 4:
			month, day = 2, 30
		case 5:
			month, day, year = 2, 29, g.pick(2026, 1900, 2100, 1700, 2259).(int)
		case 6:
			hour = g.pick(24, 25).(int)
		case 7:
			minute = 60
		case 8:
			sec = 60
		case 9:
			frac = g.pick(".1234567890", ".", ".5.5").(string)
		case 10:
			zone = g.pick("+24:00", "-00:60", "", "+0100", " Z", "+1:00", "UTC").(string)
		case 11:
			sep = g.pick(" ", "", "TT").(string)
		case 12:
			return g.pick("2026-11-23", "1732353600", "", "2026-11-23T08:00Z", "+2026-11-23T08:00:00Z").(string)
		default:
			return fmt.Sprintf("%04d-%d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute, sec) // a one-digit month
		}
	}
	return fmt.Sprintf("%04d-%02d-%02d%s%02d:%02d:%02d%s%s", year, month, day, sep, hour, minute, sec, frac, zone)
}
