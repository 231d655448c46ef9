package events

import (
	"bytes"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of objects and arrays Decode accepts,
// counting the event object itself. It bounds the work spent on hostile
// input; real events nest two levels deep.
const maxDepth = 512

// Timestamps must lie in these years (inclusive) so that every instant,
// whatever its offset, fits in int64 Unix nanoseconds.
const (
	minYear = 1678
	maxYear = 2261
)

// Decode parses one message into ev, reusing ev's scratch buffer. It returns
// nil or an *Error.
//
// Decode first checks the size, then the JSON syntax of the whole message,
// and only then the fields, so a message that is not valid JSON is always
// rejected as ReasonInvalidJSON, whatever else is wrong with it. Fields are
// checked in the order id, type, ticket_id, occurred_at, channel, team,
// agent_id, priority, replies, handle_seconds, survey; the first violation is
// returned. Keys match exactly (case-sensitively) after unescaping; of
// duplicate keys the last one wins, and a null value counts as absent.
//
// A string field that is read (not an unknown member, which is skipped) must
// not contain a \u escape of a lone UTF-16 surrogate: such a string is
// rejected as ReasonInvalidValue, because replacing the surrogate by U+FFFD,
// as encoding/json does, would make distinct ids such as "s\ud800" and
// "s\udbff" equal. A key with a lone surrogate matches no known field. Raw
// bytes that are not UTF-8 are ReasonInvalidJSON anywhere in the message.
//
// An integer field (replies, survey.score) accepts any JSON number whose
// value is an exact integer, however it is written: 1.0, 1e0 and 10e-1 are
// 1 (see parseInteger).
//
// Every field of ev is overwritten. On success the byte-slice fields of ev
// alias data or ev's scratch buffer (see Event). On error ev holds no
// meaningful values.
//
// In the steady state (ev reused, messages no larger than before) Decode
// allocates nothing on success.
func Decode(data []byte, ev *Event) error {
	*ev = Event{Replies: -1, HandleMillis: -1, scratch: ev.scratch[:0]}
	if len(data) > MaxSize {
		return &Error{Reason: ReasonTooLarge, Detail: "message must be at most " + strconv.Itoa(MaxSize) + " bytes, got " + strconv.Itoa(len(data))}
	}
	d := decoder{data: data}
	if !d.scanEvent() {
		return &Error{Reason: ReasonInvalidJSON, Detail: d.errMsg + " at offset " + strconv.Itoa(d.errPos) + "; must be one UTF-8 JSON object"}
	}
	return d.fill(ev)
}

// field identifies a known member of the event or of its survey object.
type field uint8

const (
	fID field = iota
	fType
	fTicketID
	fOccurredAt
	fChannel
	fPriority
	fTeam
	fAgentID
	fReplies
	fHandleSeconds
	fSurvey
	fSurveyKind
	fSurveyScore
	numFields
	fUnknown = numFields
)

// maxKeyLen is the length of the longest known key, "handle_seconds".
const maxKeyLen = len("handle_seconds")

// eventField returns the event member named key.
func eventField(key []byte) field {
	switch string(key) {
	case "id":
		return fID
	case "type":
		return fType
	case "ticket_id":
		return fTicketID
	case "occurred_at":
		return fOccurredAt
	case "channel":
		return fChannel
	case "priority":
		return fPriority
	case "team":
		return fTeam
	case "agent_id":
		return fAgentID
	case "replies":
		return fReplies
	case "handle_seconds":
		return fHandleSeconds
	case "survey":
		return fSurvey
	}
	return fUnknown
}

// surveyField returns the survey member named key.
func surveyField(key []byte) field {
	switch string(key) {
	case "kind":
		return fSurveyKind
	case "score":
		return fSurveyScore
	}
	return fUnknown
}

// kind is the JSON type of a recorded value.
type kind uint8

const (
	kindAbsent kind = iota // not present, or null
	kindString
	kindNumber
	kindObject
	kindOther // true, false or array (or an object where none is expected)
)

// span records where the last value of a known field lies in the message.
type span struct {
	kind       kind
	escaped    bool // kindString: the raw text contains escapes
	start, end int  // kindString: the raw text between the quotes; kindNumber: the number
}

// decoder is the state of one Decode call. The first pass (scanEvent)
// validates the syntax of the whole message and records the known fields;
// the second (fill) checks and converts them.
type decoder struct {
	data   []byte
	pos    int
	errMsg string // syntax error, set by fail
	errPos int
	fields [numFields]span
}

// fail records a syntax error at the current position and returns false.
func (d *decoder) fail(msg string) bool {
	d.errMsg, d.errPos = msg, d.pos
	return false
}

// failChar records an unexpected byte (or end of input) at the current position.
func (d *decoder) failChar() bool {
	if d.pos >= len(d.data) {
		return d.fail("unexpected end of input")
	}
	if c := d.data[d.pos]; c >= ' ' && c < utf8.RuneSelf {
		return d.fail("unexpected character " + strconv.QuoteRune(rune(c)))
	}
	return d.fail("unexpected byte 0x" + strconv.FormatUint(uint64(d.data[d.pos]), 16))
}

// peek returns the byte at the current position, or 0 (valid nowhere outside
// strings) at the end of the input.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// scanEvent scans the whole message: one object, surrounded by optional
// whitespace.
func (d *decoder) scanEvent() bool {
	d.skipWS()
	if d.peek() != '{' {
		if d.pos >= len(d.data) {
			return d.fail("unexpected end of input")
		}
		return d.fail("top-level value is not an object")
	}
	if !d.scanObject(false, 1) {
		return false
	}
	d.skipWS()
	if d.pos != len(d.data) {
		return d.fail("unexpected data after the object")
	}
	return true
}

// scanObject scans the object at the current position, the event or (if
// survey is set) its survey, which is nested in depth-1 containers. It records
// the known members and skips the others.
func (d *decoder) scanObject(survey bool, depth int) bool {
	d.pos++ // '{'
	d.skipWS()
	if d.peek() == '}' {
		d.pos++
		return true
	}
	var buf [maxKeyLen]byte
	for {
		key, ok := d.scanKey(&buf)
		if !ok {
			return false
		}
		var f field
		if survey {
			f = surveyField(key)
		} else {
			f = eventField(key)
		}
		switch f {
		case fUnknown:
			ok = d.skipValue(depth)
		case fSurvey:
			// Reset the survey's members so that the last "survey" wins as a whole.
			d.fields[fSurveyKind], d.fields[fSurveyScore] = span{}, span{}
			if d.peek() == '{' {
				d.fields[fSurvey] = span{kind: kindObject}
				ok = d.scanObject(true, depth+1)
			} else {
				ok = d.scanValue(fSurvey, depth)
			}
		default:
			ok = d.scanValue(f, depth)
		}
		if !ok {
			return false
		}
		d.skipWS()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipWS()
		case '}':
			d.pos++
			return true
		default:
			return d.failChar()
		}
	}
}

// scanKey scans a member name, the colon and the whitespace around it. It
// returns the unescaped name when it may be a known one (it fits buf and has
// no lone surrogate), and nil otherwise.
func (d *decoder) scanKey(buf *[maxKeyLen]byte) ([]byte, bool) {
	if d.peek() != '"' {
		return nil, d.failChar()
	}
	start, end, escaped, ok := d.scanString()
	if !ok {
		return nil, false
	}
	d.skipWS()
	if d.peek() != ':' {
		return nil, d.failChar()
	}
	d.pos++
	d.skipWS()
	raw := d.data[start:end]
	if !escaped {
		return raw, true
	}
	n, fits, _ := unescape(buf[:], raw)
	if !fits {
		return nil, true
	}
	return buf[:n], true
}

// scanValue scans the value at the current position, nested in depth
// containers, and records it as the last value of f.
func (d *decoder) scanValue(f field, depth int) bool {
	start := d.pos
	switch c := d.peek(); {
	case c == '"':
		s, e, escaped, ok := d.scanString()
		d.fields[f] = span{kind: kindString, escaped: escaped, start: s, end: e}
		return ok
	case c == '-' || '0' <= c && c <= '9':
		ok := d.scanNumber()
		d.fields[f] = span{kind: kindNumber, start: start, end: d.pos}
		return ok
	case c == 'n':
		d.fields[f] = span{}
		return d.scanLiteral("null")
	default:
		d.fields[f] = span{kind: kindOther}
		return d.skipValue(depth)
	}
}

// skipValue validates and skips the value at the current position, nested
// in depth containers. It does not recurse: the kinds of the open containers
// are kept in a bit stack.
func (d *decoder) skipValue(depth int) bool {
	var objects [(maxDepth + 63) / 64]uint64 // bit i set: open container i is an object
	n := 0                                   // open containers
	for {
		// A value starts at d.pos.
		switch c := d.peek(); c {
		case '{', '[':
			if depth+n >= maxDepth {
				return d.fail("nesting deeper than " + strconv.Itoa(maxDepth) + " levels")
			}
			d.pos++
			if c == '{' {
				objects[n/64] |= 1 << (n % 64)
			} else {
				objects[n/64] &^= 1 << (n % 64)
			}
			n++
			d.skipWS()
			if c == '{' && d.peek() == '}' || c == '[' && d.peek() == ']' {
				d.pos++
				n--
				break // an empty container is a complete value
			}
			if c == '{' && !d.skipKey() {
				return false
			}
			continue // its first value
		case '"':
			if _, _, _, ok := d.scanString(); !ok {
				return false
			}
		case 't':
			if !d.scanLiteral("true") {
				return false
			}
		case 'f':
			if !d.scanLiteral("false") {
				return false
			}
		case 'n':
			if !d.scanLiteral("null") {
				return false
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return d.failChar()
			}
			if !d.scanNumber() {
				return false
			}
		}
		// A value ended: close containers until one continues with another value.
		for {
			if n == 0 {
				return true
			}
			d.skipWS()
			object := objects[(n-1)/64]&(1<<((n-1)%64)) != 0
			c := d.peek()
			if c == ',' {
				d.pos++
				d.skipWS()
				if object && !d.skipKey() {
					return false
				}
				break
			}
			if object && c == '}' || !object && c == ']' {
				d.pos++
				n--
				continue
			}
			return d.failChar()
		}
	}
}

// skipKey scans a member name of an unknown object, the colon and the
// whitespace around it.
func (d *decoder) skipKey() bool {
	if d.peek() != '"' {
		return d.failChar()
	}
	if _, _, _, ok := d.scanString(); !ok {
		return false
	}
	d.skipWS()
	if d.peek() != ':' {
		return d.failChar()
	}
	d.pos++
	d.skipWS()
	return true
}

// scanString scans the string at the current position (at its opening
// quote). It returns the bounds of the raw text between the quotes and
// whether it contains escapes. It checks that the text is valid UTF-8 without
// control characters and that every escape is valid.
func (d *decoder) scanString() (start, end int, escaped, ok bool) {
	data := d.data
	start = d.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return 0, 0, false, d.fail("invalid UTF-8")
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			return start, i, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				i = len(data)
				continue
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || hex4(data[i+2:i+6]) < 0 {
					d.pos = i
					return 0, 0, false, d.fail("invalid \\u escape in string")
				}
				i += 6
			default:
				d.pos = i
				return 0, 0, false, d.fail("invalid escape in string")
			}
		case c < 0x20:
			d.pos = i
			return 0, 0, false, d.fail("control character in string")
		default:
			i++
		}
	}
	d.pos = len(data)
	return 0, 0, false, d.fail("unexpected end of input in string")
}

// scanNumber scans the number at the current position per the JSON grammar.
func (d *decoder) scanNumber() bool {
	data := d.data
	i := d.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		d.pos = i
		return d.failChar()
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return d.failChar()
		}
		i = skipDigits(data, i+1)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return d.failChar()
		}
		i = skipDigits(data, i+1)
	}
	d.pos = i
	return true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral scans lit (true, false or null) at the current position.
func (d *decoder) scanLiteral(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.fail("invalid literal, want " + lit)
	}
	d.pos += len(lit)
	return true
}

// hex4 returns the value of four hexadecimal digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape writes the unescaped form of the raw string text src, which
// scanString has validated, into dst. It returns the length written and
// false if dst is too small. The result is never longer than src.
//
// It stops at a \u escape of a lone UTF-16 surrogate and returns lone true
// (and fits false): a high surrogate (\ud800 to \udbff) not directly
// followed by an escaped low one (\udc00 to \udfff), or a low one not
// directly preceded by a high one. encoding/json replaces such an escape by
// U+FFFD, which makes strings that differ only in lone surrogates equal.
func unescape(dst, src []byte) (n int, fits, lone bool) {
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\\')
		if i < 0 {
			i = len(src)
		}
		if n+i > len(dst) {
			return n, false, false
		}
		n += copy(dst[n:], src[:i])
		src = src[i:]
		if len(src) == 0 {
			break
		}
		var r rune
		adv := 2 // length of the escape
		switch c := src[1]; c {
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			r, adv = hex4(src[2:6]), 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate and an escaped low one make a
				// code point; DecodeRune returns U+FFFD for anything else.
				low := rune(-1)
				if len(src) >= 12 && src[6] == '\\' && src[7] == 'u' {
					low = hex4(src[8:12])
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return n, false, true
				}
				adv = 12
			}
		default: // '"', '\\', '/'
			r = rune(c)
		}
		src = src[adv:]
		if n+utf8.RuneLen(r) > len(dst) {
			return n, false, false
		}
		n += utf8.EncodeRune(dst[n:], r)
	}
	return n, true, false
}

// reject returns an *Error.
func reject(reason Reason, field, detail string) *Error {
	return &Error{Reason: reason, Field: field, Detail: detail}
}

// Details of the errors of fill, saying what is allowed.
const (
	detailID       = "must be a string of 1 to 128 characters"
	detailType     = "must be one of ticket.opened, ticket.first_reply, ticket.resolved, ticket.reopened, survey.answered"
	detailOptional = "must be a string of at most 128 characters"
	detailTime     = "must be an RFC 3339 timestamp with offset, like 2026-11-23T08:00:00Z, in the years 1678 to 2261"
	detailPriority = "must be one of low, normal, high, urgent"
	detailReplies  = "must be an integer from 0 to 1000000"
	detailHandle   = "must be a number of seconds from 0 to 100000000"
	detailSurvey   = `must be an object {"kind": "csat"|"nps"|"ces", "score": integer}`
	detailKind     = "must be one of csat, nps, ces"
	// detailSurrogate is the detail of a string with a lone surrogate escape.
	detailSurrogate = `lone UTF-16 surrogates are not allowed: an escape \ud800 to \udbff must be directly followed by one of \udc00 to \udfff`
)

// fill checks the recorded fields and stores them in ev.
func (d *decoder) fill(ev *Event) error {
	f := &d.fields
	var err *Error

	// id
	switch f[fID].kind {
	case kindAbsent:
		return reject(ReasonMissingField, "id", detailID)
	case kindString:
	default:
		return reject(ReasonInvalidValue, "id", detailID)
	}
	if ev.ID, err = d.str(ev, f[fID], "id"); err != nil {
		return err
	}
	if len(ev.ID) == 0 || !fitsID(ev.ID) {
		return reject(ReasonOutOfRange, "id", detailID)
	}

	// type
	switch f[fType].kind {
	case kindAbsent:
		return reject(ReasonMissingField, "type", detailType)
	case kindString:
	default:
		return reject(ReasonInvalidValue, "type", detailType)
	}
	typ, err := d.str(ev, f[fType], "type")
	if err != nil {
		return err
	}
	switch string(typ) {
	case "ticket.opened":
		ev.Type = TicketOpened
	case "ticket.first_reply":
		ev.Type = TicketFirstReply
	case "ticket.resolved":
		ev.Type = TicketResolved
	case "ticket.reopened":
		ev.Type = TicketReopened
	case "survey.answered":
		ev.Type = SurveyAnswered
	default:
		return reject(ReasonUnknownType, "type", detailType)
	}

	// ticket_id
	switch f[fTicketID].kind {
	case kindAbsent:
		if ev.Type != SurveyAnswered {
			return reject(ReasonMissingField, "ticket_id", "required on "+ev.Type.String()+"; "+detailID)
		}
	case kindString:
		if ev.TicketID, err = d.str(ev, f[fTicketID], "ticket_id"); err != nil {
			return err
		}
		if len(ev.TicketID) == 0 || !fitsID(ev.TicketID) {
			return reject(ReasonOutOfRange, "ticket_id", detailID)
		}
	default:
		return reject(ReasonInvalidValue, "ticket_id", detailID)
	}

	// occurred_at
	switch f[fOccurredAt].kind {
	case kindAbsent:
		return reject(ReasonMissingField, "occurred_at", detailTime)
	case kindString:
	default:
		return reject(ReasonInvalidValue, "occurred_at", detailTime)
	}
	ts, err := d.str(ev, f[fOccurredAt], "occurred_at")
	if err != nil {
		return err
	}
	t, ok := parseTimestamp(ts)
	if !ok {
		return reject(ReasonInvalidValue, "occurred_at", detailTime)
	}
	ev.OccurredAt = t

	// channel, team, agent_id
	if ev.Channel, err = d.optionalString(ev, fChannel, "channel"); err != nil {
		return err
	}
	if ev.Team, err = d.optionalString(ev, fTeam, "team"); err != nil {
		return err
	}
	if ev.AgentID, err = d.optionalString(ev, fAgentID, "agent_id"); err != nil {
		return err
	}

	// priority
	switch f[fPriority].kind {
	case kindAbsent:
	case kindString:
		p, err := d.str(ev, f[fPriority], "priority")
		if err != nil {
			return err
		}
		switch string(p) {
		case "low":
			ev.Priority = PriorityLow
		case "normal":
			ev.Priority = PriorityNormal
		case "high":
			ev.Priority = PriorityHigh
		case "urgent":
			ev.Priority = PriorityUrgent
		default:
			return reject(ReasonInvalidValue, "priority", detailPriority)
		}
	default:
		return reject(ReasonInvalidValue, "priority", detailPriority)
	}

	// replies
	switch sp := f[fReplies]; sp.kind {
	case kindAbsent:
	case kindNumber:
		v, integer, inRange := parseInteger(d.data[sp.start:sp.end], MaxReplies)
		if !integer {
			return reject(ReasonInvalidValue, "replies", detailReplies)
		}
		if !inRange || v < 0 {
			return reject(ReasonOutOfRange, "replies", detailReplies)
		}
		if ev.Type == TicketResolved {
			ev.Replies = int32(v)
		}
	default:
		return reject(ReasonInvalidValue, "replies", detailReplies)
	}

	// handle_seconds
	switch sp := f[fHandleSeconds]; sp.kind {
	case kindAbsent:
	case kindNumber:
		// The conversion does not allocate for numbers of up to 32 bytes:
		// ParseFloat does not retain its argument.
		v, err := strconv.ParseFloat(string(d.data[sp.start:sp.end]), 64)
		if err != nil || !(v >= 0 && v <= MaxHandleSeconds) {
			return reject(ReasonOutOfRange, "handle_seconds", detailHandle)
		}
		if ev.Type == TicketResolved {
			ev.HandleMillis = int64(math.Round(v * 1000))
		}
	default:
		return reject(ReasonInvalidValue, "handle_seconds", detailHandle)
	}

	if ev.Type == SurveyAnswered {
		return d.fillSurvey(ev)
	}
	return nil
}

// fillSurvey checks and stores the survey of a survey.answered.
func (d *decoder) fillSurvey(ev *Event) error {
	f := &d.fields
	switch f[fSurvey].kind {
	case kindAbsent:
		return reject(ReasonMissingField, "survey", "required on survey.answered; "+detailSurvey)
	case kindObject:
	default:
		return reject(ReasonInvalidValue, "survey", detailSurvey)
	}

	switch f[fSurveyKind].kind {
	case kindAbsent:
		return reject(ReasonMissingField, "survey.kind", detailKind)
	case kindString:
	default:
		return reject(ReasonInvalidValue, "survey.kind", detailKind)
	}
	kind, err := d.str(ev, f[fSurveyKind], "survey.kind")
	if err != nil {
		return err
	}
	var k SurveyKind
	switch string(kind) {
	case "csat":
		k = SurveyCSAT
	case "nps":
		k = SurveyNPS
	case "ces":
		k = SurveyCES
	default:
		return reject(ReasonInvalidValue, "survey.kind", detailKind)
	}

	lo, hi := k.ScoreRange()
	var detail string
	switch k {
	case SurveyCSAT:
		detail = "must be an integer from 1 to 5 for csat"
	case SurveyNPS:
		detail = "must be an integer from 0 to 10 for nps"
	case SurveyCES:
		detail = "must be an integer from 1 to 7 for ces"
	}
	switch sp := f[fSurveyScore]; sp.kind {
	case kindAbsent:
		return reject(ReasonMissingField, "survey.score", detail)
	case kindNumber:
		v, integer, inRange := parseInteger(d.data[sp.start:sp.end], hi)
		if !integer {
			return reject(ReasonInvalidValue, "survey.score", detail)
		}
		if !inRange || v < int64(lo) || v > int64(hi) {
			return reject(ReasonOutOfRange, "survey.score", detail)
		}
		ev.Survey, ev.Score = k, int8(v)
	default:
		return reject(ReasonInvalidValue, "survey.score", detail)
	}
	return nil
}

// optionalString checks and returns the optional string f, named name: empty
// when absent.
func (d *decoder) optionalString(ev *Event, f field, name string) ([]byte, *Error) {
	switch sp := d.fields[f]; sp.kind {
	case kindAbsent:
		return nil, nil
	case kindString:
		s, err := d.str(ev, sp, name)
		if err != nil {
			return nil, err
		}
		if !fitsID(s) {
			return nil, reject(ReasonOutOfRange, name, detailOptional)
		}
		if len(s) == 0 {
			return nil, nil
		}
		return s, nil
	default:
		return nil, reject(ReasonInvalidValue, name, detailOptional)
	}
}

// str returns the string recorded in sp, the value of the field name: a
// slice of the message when it has no escapes, else its unescaped form
// appended to ev's scratch buffer. The result's capacity equals its length,
// so appending to it copies. A string with an escape of a lone UTF-16
// surrogate is rejected as ReasonInvalidValue.
func (d *decoder) str(ev *Event, sp span, name string) ([]byte, *Error) {
	raw := d.data[sp.start:sp.end:sp.end]
	if !sp.escaped {
		return raw, nil
	}
	// Grow before the first unescaped string of this call: all unescaped
	// strings together are shorter than the message, so slices handed out
	// earlier in this call are never moved.
	if cap(ev.scratch) < len(d.data) {
		ev.scratch = make([]byte, 0, len(d.data))
	}
	off := len(ev.scratch)
	n, fits, lone := unescape(ev.scratch[off:cap(ev.scratch)], raw)
	if lone {
		return nil, reject(ReasonInvalidValue, name, detailSurrogate)
	}
	if !fits {
		panic("BUG: events: unescaped string longer than the message")
	}
	ev.scratch = ev.scratch[:off+n]
	return ev.scratch[off : off+n : off+n], nil
}

// fitsID reports whether s has at most MaxIDLen code points.
func fitsID(s []byte) bool {
	return len(s) <= MaxIDLen || utf8.RuneCount(s) <= MaxIDLen
}

// parseInteger parses the JSON number b, which scanNumber has validated, as
// an integer of magnitude at most limit, which must be far below the int64
// range. It reports whether the value of b is an integer and, if so, whether
// its magnitude is within limit.
//
// JSON has one number type, so what counts is the exact value, not the
// spelling: a number is an integer if its decimal value is one, whether it is
// written with a fraction of zeros, an exponent or both. 1.0, 1.00, 1e0,
// 1E+0, 10e-1 and 0.1e1 are all 1, and -0 and -0.0 are 0; 1.5, 1e-1 and
// 0.15e1 are not integers; 1e7 is an integer, beyond the limit of replies.
// The arithmetic is exact decimal on the digits, with no float
// conversion (and no allocation).
func parseInteger(b []byte, limit int) (v int64, integer, inRange bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	// The value is the digits of the mantissa times 10 to the power scale.
	// The exponent saturates at ±(len(b)+20): as b has fewer digits than
	// len(b), from there on its sign alone decides. A positive one makes an
	// integer of more than 20 digits, beyond any limit, and a negative one
	// leaves a fraction (or zero).
	mant, scale := b, 0
	for i, c := range b {
		if c == 'e' || c == 'E' {
			mant, scale = b[:i], parseExponent(b[i+1:], len(b)+20)
			break
		}
	}
	if i := bytes.IndexByte(mant, '.'); i >= 0 {
		scale -= len(mant) - i - 1 // the number of fraction digits
	}
	// Trailing zeros move from the digits into the scale; leading zeros and
	// the point (accounted for above) do not count.
	for len(mant) > 0 && (mant[len(mant)-1] == '0' || mant[len(mant)-1] == '.') {
		if mant[len(mant)-1] == '0' {
			scale++
		}
		mant = mant[:len(mant)-1]
	}
	for len(mant) > 0 && (mant[0] == '0' || mant[0] == '.') {
		mant = mant[1:]
	}
	if len(mant) == 0 {
		return 0, true, true // zero, however written
	}
	if scale < 0 {
		// The digits end in a nonzero digit, so dividing them by a power of
		// ten leaves a fraction.
		return 0, false, false
	}
	for _, c := range mant {
		if c != '.' {
			v = v*10 + int64(c-'0')
			if v > int64(limit) {
				return 0, true, false
			}
		}
	}
	// v is at least 1, so this ends after a few rounds however large scale is.
	for range scale {
		v *= 10
		if v > int64(limit) {
			return 0, true, false
		}
	}
	if neg {
		v = -v
	}
	return v, true, true
}

// parseExponent returns the value of the exponent b of a JSON number (digits
// after an optional sign), saturated at ±sat so that it cannot overflow.
func parseExponent(b []byte, sat int) int {
	neg := b[0] == '-'
	if b[0] == '+' || b[0] == '-' {
		b = b[1:]
	}
	e := 0
	for _, c := range b {
		e = min(e*10+int(c-'0'), sat)
	}
	if neg {
		return -e
	}
	return e
}

// parseTimestamp parses an RFC 3339 date-time with offset,
// YYYY-MM-DDTHH:MM:SS[.fraction]Z or ...±HH:MM, into Unix nanoseconds. The
// fraction has 1 to 9 digits; 't' and 'z' may be lower case.
func parseTimestamp(b []byte) (int64, bool) {
	const layout = "2006-01-02T15:04:05"
	if len(b) < len(layout)+1 ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year := digits(b[0:4])
	month := digits(b[5:7])
	day := digits(b[8:10])
	hour := digits(b[11:13])
	minute := digits(b[14:16])
	sec := digits(b[17:19])
	if year < minYear || year > maxYear || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	rest := b[len(layout):]
	nsec := 0
	if rest[0] == '.' {
		n := skipDigits(rest, 1)
		if n == 1 || n > 10 {
			return 0, false
		}
		nsec = digits(rest[1:n])
		for range 10 - n {
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset := 0 // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := digits(rest[1:3]), digits(rest[4:6])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	wall := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).UnixNano()
	return wall - int64(offset)*int64(time.Second), true
}

// digits returns the value of the decimal digits b, or -1.
func digits(b []byte) int {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// daysIn returns the number of days in month of year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
