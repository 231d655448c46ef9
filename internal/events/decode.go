package events

// Decode, the package's entry point, and the decoder it runs: a first pass
// (decode_scan.go) checks the JSON syntax and records where the known fields
// lie, a second (fields.go) applies the contract's rules to them, with the
// number and timestamp parsers of numbers.go.

import "strconv"

// Decode parses one message into ev, reusing ev's scratch buffer. It returns
// nil or an *Error.
//
// Decode first checks the size, then the JSON syntax of the whole message,
// and only then the fields, so a message that is not valid JSON is always
// rejected as ReasonInvalidJSON, whatever else is wrong with it. Fields are
// checked in the order id, type, ticket_id, occurred_at, channel, team,
// agent_id, priority, replies, handle_seconds, and last what the type
// requires: the survey of a survey.answered, the status of a
// ticket.status_changed, at least one of channel, priority and team on a
// ticket.updated (else ReasonMissingField with Field "channel"). The first
// violation is returned. Keys match exactly (case-sensitively) after
// unescaping; of duplicate keys the last one wins, and a null value counts
// as absent. The fields above are checked on every type, even where they
// mean nothing (replies on a ticket.opened), except survey and status, which
// other types ignore like unknown fields.
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
