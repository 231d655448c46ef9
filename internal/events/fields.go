package events

// The contract's field rules, Decode's second pass: the known keys, the
// required kind, presence, length and values of each field, and the texts of
// the errors that reject them.

import (
	"math"
	"strconv"
	"unicode/utf8"
)

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
	fStatus
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
	case "status":
		return fStatus
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

// reject returns an *Error.
func reject(reason Reason, field, detail string) *Error {
	return &Error{Reason: reason, Field: field, Detail: detail}
}

// wrongKind returns the error for the field name, whose value is of kind k
// where the contract wants another: ReasonMissingField if it is absent (or
// null), else ReasonInvalidValue, both with detail.
func wrongKind(k kind, name, detail string) *Error {
	if k == kindAbsent {
		return reject(ReasonMissingField, name, detail)
	}
	return reject(ReasonInvalidValue, name, detail)
}

// Details of the errors of fill, saying what is allowed.
const (
	detailID       = "must be a string of 1 to 128 characters"
	detailType     = "must be one of ticket.opened, ticket.first_reply, ticket.resolved, ticket.reopened, survey.answered, ticket.replied, ticket.customer_message, ticket.status_changed, ticket.updated"
	detailOptional = "must be a string of at most 128 characters"
	detailTime     = "must be an RFC 3339 timestamp with offset, like 2026-11-23T08:00:00Z, in the years 1678 to 2261"
	detailPriority = "must be one of low, normal, high, urgent"
	detailReplies  = "must be an integer from 0 to 1000000"
	detailHandle   = "must be a number of seconds from 0 to 100000000"
	detailSurvey   = `must be an object {"kind": "csat"|"nps"|"ces", "score": integer}`
	detailKind     = "must be one of csat, nps, ces"
	detailStatus   = "must be one of open, pending, on_hold"
	detailChanges  = "ticket.updated needs at least one of channel, priority, team"
	// detailSurrogate is the detail of a string with a lone surrogate escape.
	detailSurrogate = `lone UTF-16 surrogates are not allowed: an escape \ud800 to \udbff must be directly followed by one of \udc00 to \udfff`
)

// fill checks the recorded fields and stores them in ev.
func (d *decoder) fill(ev *Event) error {
	f := &d.fields
	var err *Error

	// id
	if sp := f[fID]; sp.kind != kindString {
		return wrongKind(sp.kind, "id", detailID)
	}
	if ev.ID, err = d.str(ev, f[fID], "id"); err != nil {
		return err
	}
	if len(ev.ID) == 0 || !fitsID(ev.ID) {
		return reject(ReasonOutOfRange, "id", detailID)
	}

	// type
	if sp := f[fType]; sp.kind != kindString {
		return wrongKind(sp.kind, "type", detailType)
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
	case "ticket.replied":
		ev.Type = TicketReplied
	case "ticket.customer_message":
		ev.Type = TicketCustomerMessage
	case "ticket.status_changed":
		ev.Type = TicketStatusChanged
	case "ticket.updated":
		ev.Type = TicketUpdated
	default:
		return reject(ReasonUnknownType, "type", detailType)
	}

	// ticket_id
	if sp := f[fTicketID]; sp.kind != kindAbsent {
		if sp.kind != kindString {
			return wrongKind(sp.kind, "ticket_id", detailID)
		}
		if ev.TicketID, err = d.str(ev, sp, "ticket_id"); err != nil {
			return err
		}
		if len(ev.TicketID) == 0 || !fitsID(ev.TicketID) {
			return reject(ReasonOutOfRange, "ticket_id", detailID)
		}
	} else if ev.Type != SurveyAnswered {
		return reject(ReasonMissingField, "ticket_id", "required on "+ev.Type.String()+"; "+detailID)
	}

	// occurred_at
	if sp := f[fOccurredAt]; sp.kind != kindString {
		return wrongKind(sp.kind, "occurred_at", detailTime)
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
	if sp := f[fPriority]; sp.kind != kindAbsent {
		if sp.kind != kindString {
			return wrongKind(sp.kind, "priority", detailPriority)
		}
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
	}

	// replies
	if sp := f[fReplies]; sp.kind != kindAbsent {
		if sp.kind != kindNumber {
			return wrongKind(sp.kind, "replies", detailReplies)
		}
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
	}

	// handle_seconds
	if sp := f[fHandleSeconds]; sp.kind != kindAbsent {
		if sp.kind != kindNumber {
			return wrongKind(sp.kind, "handle_seconds", detailHandle)
		}
		// The conversion does not allocate for numbers of up to 32 bytes:
		// ParseFloat does not retain its argument.
		v, err := strconv.ParseFloat(string(d.data[sp.start:sp.end]), 64)
		if err != nil || !(v >= 0 && v <= MaxHandleSeconds) {
			return reject(ReasonOutOfRange, "handle_seconds", detailHandle)
		}
		if ev.Type == TicketResolved {
			ev.HandleMillis = int64(math.Round(v * 1000))
		}
	}

	// The field the type requires, if any.
	switch ev.Type {
	case SurveyAnswered:
		return d.fillSurvey(ev)
	case TicketStatusChanged:
		return d.fillStatus(ev)
	case TicketUpdated:
		return d.fillChanges(ev)
	}
	return nil
}

// fillStatus checks and stores the status of a ticket.status_changed.
func (d *decoder) fillStatus(ev *Event) error {
	sp := d.fields[fStatus]
	if sp.kind == kindAbsent {
		return reject(ReasonMissingField, "status", "required on ticket.status_changed; "+detailStatus)
	} else if sp.kind != kindString {
		return wrongKind(sp.kind, "status", detailStatus)
	}
	s, err := d.str(ev, sp, "status")
	if err != nil {
		return err
	}
	switch string(s) {
	case "open":
		ev.Status = StatusOpen
	case "pending":
		ev.Status = StatusPending
	case "on_hold":
		ev.Status = StatusOnHold
	default:
		return reject(ReasonInvalidValue, "status", detailStatus)
	}
	return nil
}

// fillChanges records which fields a ticket.updated changes. fill has
// already checked and stored their values.
func (d *decoder) fillChanges(ev *Event) error {
	f := &d.fields
	if f[fChannel].kind != kindAbsent {
		ev.Changes |= ChangeChannel
	}
	if f[fPriority].kind != kindAbsent {
		ev.Changes |= ChangePriority
	}
	if f[fTeam].kind != kindAbsent {
		ev.Changes |= ChangeTeam
	}
	if ev.Changes == 0 {
		return reject(ReasonMissingField, "channel", detailChanges)
	}
	return nil
}

// fillSurvey checks and stores the survey of a survey.answered.
func (d *decoder) fillSurvey(ev *Event) error {
	f := &d.fields
	if sp := f[fSurvey]; sp.kind == kindAbsent {
		return reject(ReasonMissingField, "survey", "required on survey.answered; "+detailSurvey)
	} else if sp.kind != kindObject {
		return wrongKind(sp.kind, "survey", detailSurvey)
	}

	if sp := f[fSurveyKind]; sp.kind != kindString {
		return wrongKind(sp.kind, "survey.kind", detailKind)
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
	sp := f[fSurveyScore]
	if sp.kind != kindNumber {
		return wrongKind(sp.kind, "survey.score", detail)
	}
	v, integer, inRange := parseInteger(d.data[sp.start:sp.end], hi)
	if !integer {
		return reject(ReasonInvalidValue, "survey.score", detail)
	}
	if !inRange || v < int64(lo) || v > int64(hi) {
		return reject(ReasonOutOfRange, "survey.score", detail)
	}
	ev.Survey, ev.Score = k, int8(v)
	return nil
}

// optionalString checks and returns the optional string f, named name: empty
// when absent.
func (d *decoder) optionalString(ev *Event, f field, name string) ([]byte, *Error) {
	sp := d.fields[f]
	if sp.kind == kindAbsent {
		return nil, nil
	}
	if sp.kind != kindString {
		return nil, wrongKind(sp.kind, name, detailOptional)
	}
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
