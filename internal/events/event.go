// Package events is the wire contract of the helpdesk event stream: the event
// types that docs/events.md documents (the five of v1, and ticket.replied,
// ticket.customer_message, ticket.status_changed and ticket.updated), a
// decoder for their JSON form and the validation rules of that page.
//
// It knows nothing about NATS, windows or KPIs: what an event means for a
// ticket (a status that pauses an SLA clock, an update that moves a ticket
// to another team) is for the aggregator to decide. Decoding is a hand-written
// scanner of this small, fixed schema: it allocates nothing per event in the
// steady state, and the byte-slice fields of a decoded Event alias the input
// (or the Event's own scratch buffer), so they are valid only until the input
// is modified or the Event is decoded into again.
package events

// MaxSize is the largest message accepted, in bytes.
const MaxSize = 64 << 10

// MaxIDLen is the longest accepted id, ticket_id, channel, team or agent_id,
// in characters (Unicode code points).
const MaxIDLen = 128

// MaxReplies is the largest accepted value of "replies".
const MaxReplies = 1_000_000

// MaxHandleSeconds is the largest accepted value of "handle_seconds"
// (about three years); it keeps sums of handling times far from overflow.
const MaxHandleSeconds = 100_000_000

// Type is the kind of an event.
type Type uint8

// The event types of the contract. TypeInvalid is the zero value and never
// returned for an accepted event.
const (
	TypeInvalid Type = iota
	TicketOpened
	TicketFirstReply
	TicketResolved
	TicketReopened
	SurveyAnswered
	TicketReplied         // v2: a public agent reply, the first included
	TicketCustomerMessage // v2: a message from the customer on an existing ticket
	TicketStatusChanged   // v2: Event.Status holds the new status
	TicketUpdated         // v2: Event.Changes says which of Channel, Priority, Team changed
)

// NumTypes is one more than the largest Type, for arrays indexed by Type.
const NumTypes = int(TicketUpdated) + 1

// String returns the wire name of t, for example "ticket.opened".
func (t Type) String() string {
	switch t {
	case TicketOpened:
		return "ticket.opened"
	case TicketFirstReply:
		return "ticket.first_reply"
	case TicketResolved:
		return "ticket.resolved"
	case TicketReopened:
		return "ticket.reopened"
	case SurveyAnswered:
		return "survey.answered"
	case TicketReplied:
		return "ticket.replied"
	case TicketCustomerMessage:
		return "ticket.customer_message"
	case TicketStatusChanged:
		return "ticket.status_changed"
	case TicketUpdated:
		return "ticket.updated"
	}
	return "invalid"
}

// Priority is a ticket priority. The zero value is PriorityNormal, the
// contract's default.
type Priority uint8

// The priorities of the contract, in the order metrics list them.
const (
	PriorityNormal Priority = iota
	PriorityLow
	PriorityHigh
	PriorityUrgent
)

// NumPriorities is the number of priorities.
const NumPriorities = 4

// String returns the wire name of p, for example "urgent".
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityHigh:
		return "high"
	case PriorityUrgent:
		return "urgent"
	}
	return "normal"
}

// ParsePriority returns the Priority named s.
func ParsePriority(s string) (Priority, bool) {
	for p := range Priority(NumPriorities) {
		if p.String() == s {
			return p, true
		}
	}
	return PriorityNormal, false
}

// Status is the status of an open ticket: whom it is waiting on. The zero
// value is StatusOpen, the status of a ticket when it is opened or reopened.
type Status uint8

// The statuses of the contract.
const (
	StatusOpen    Status = iota // waiting on the agent
	StatusPending               // waiting on the customer
	StatusOnHold                // waiting on a third party
)

// NumStatuses is the number of statuses.
const NumStatuses = 3

// String returns the wire name of s, for example "on_hold".
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusOnHold:
		return "on_hold"
	}
	return "open"
}

// ParseStatus returns the Status named s.
func ParseStatus(s string) (Status, bool) {
	for st := range Status(NumStatuses) {
		if st.String() == s {
			return st, true
		}
	}
	return StatusOpen, false
}

// The bits of Event.Changes: which of its ticket's fields a ticket.updated
// changes.
const (
	ChangeChannel = 1 << iota
	ChangePriority
	ChangeTeam
)

// SurveyKind is the kind of a survey answer.
type SurveyKind uint8

// The survey kinds of the contract. SurveyNone marks an event without survey.
const (
	SurveyNone SurveyKind = iota
	SurveyCSAT
	SurveyNPS
	SurveyCES
)

// NumSurveyKinds is one more than the largest SurveyKind.
const NumSurveyKinds = int(SurveyCES) + 1

// String returns the wire name of k, for example "csat".
func (k SurveyKind) String() string {
	switch k {
	case SurveyCSAT:
		return "csat"
	case SurveyNPS:
		return "nps"
	case SurveyCES:
		return "ces"
	}
	return "none"
}

// ScoreRange returns the inclusive range of valid scores for k.
func (k SurveyKind) ScoreRange() (lo, hi int) {
	switch k {
	case SurveyCSAT:
		return 1, 5
	case SurveyNPS:
		return 0, 10
	case SurveyCES:
		return 1, 7
	}
	return 0, -1
}

// Event is one decoded, validated helpdesk event.
//
// Byte-slice fields alias the decoded message or the Event's scratch buffer;
// copy what must outlive the next Decode into the same Event. An absent
// optional string is empty: the aggregator reads an empty Channel or Team as
// "unknown".
type Event struct {
	ID       []byte
	Type     Type
	TicketID []byte // empty only on a survey.answered without ticket
	// OccurredAt is the event time in Unix nanoseconds.
	OccurredAt int64
	Channel    []byte
	Priority   Priority
	// Changes is set on ticket.updated only: one bit (ChangeChannel,
	// ChangePriority, ChangeTeam) for each of "channel", "priority" and
	// "team" present in the message and not null, whose new value Channel,
	// Priority or Team then holds. It is never 0 on a ticket.updated. An
	// empty string is present: it sets the bit, and the empty value (read
	// as "unknown") is the new one.
	Changes uint8
	// Status is the new status on ticket.status_changed, and StatusOpen on
	// every other type, whatever "status" field it has.
	Status  Status
	Team    []byte
	AgentID []byte
	// Replies is the "replies" field of a ticket.resolved, or -1 when absent.
	Replies int32
	// HandleMillis is "handle_seconds" in milliseconds (rounded to the
	// nearest), or -1 when absent.
	HandleMillis int64
	// Survey and Score are set on survey.answered only.
	Survey SurveyKind
	Score  int8

	scratch []byte // unescaped strings live here; reused across Decode calls
}

// Reason is why a message was rejected. Its string form is the value of the
// reason label of helpdesk_events_rejected_total.
type Reason string

// Rejection reasons.
const (
	ReasonTooLarge     Reason = "too_large"     // over MaxSize bytes
	ReasonInvalidJSON  Reason = "invalid_json"  // not a UTF-8 JSON object
	ReasonMissingField Reason = "missing_field" // a required field is absent or null, or a ticket.updated changes none of channel, priority, team
	ReasonInvalidValue Reason = "invalid_value" // wrong JSON type, non-integer count or score, lone UTF-16 surrogate escape, bad timestamp, unknown priority, status or survey kind
	ReasonOutOfRange   Reason = "out_of_range"  // a length, count, duration or score outside its range
	ReasonUnknownType  Reason = "unknown_type"  // "type" is not one of the contract's types
	ReasonFuture       Reason = "future"        // occurred_at too far ahead of the clock (set by the aggregator, not Decode)
)

// Reasons lists every Reason, so counters can be exported as 0 before the
// first rejection.
func Reasons() []Reason {
	return []Reason{ReasonTooLarge, ReasonInvalidJSON, ReasonMissingField, ReasonInvalidValue, ReasonOutOfRange, ReasonUnknownType, ReasonFuture}
}

// Error is a rejection: the reason and, where one is to blame, the field.
type Error struct {
	Reason Reason
	Field  string // JSON name of the offending field, "" when none
	Detail string // short human explanation
}

func (e *Error) Error() string {
	if e.Field == "" {
		return string(e.Reason) + ": " + e.Detail
	}
	return string(e.Reason) + ": " + e.Field + ": " + e.Detail
}
