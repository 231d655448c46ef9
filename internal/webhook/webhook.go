// Package webhook maps helpdesks' own webhook payloads to contract events
// (contract section 4, v2): one Source per helpdesk, which checks a
// delivery's signature (or shared token) and turns its payload into the
// events of docs/events.md.
//
// It knows nothing about HTTP servers or NATS: package httpingest serves
// the endpoints, validates what a Source returns with the same decoder as
// every other event, and publishes it. A Source is pure: it reads no clock
// (callers pass now) and keeps no state, so a redelivered payload maps to
// the same events, with the same ids, every time.
package webhook

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one contract event in its JSON form (docs/events.md).
// Optional fields are left out when empty.
type Event struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	TicketID   string    `json:"ticket_id,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
	Channel    string    `json:"channel,omitempty"`
	Priority   string    `json:"priority,omitempty"`
	Team       string    `json:"team,omitempty"`
	AgentID    string    `json:"agent_id,omitempty"`
	Status     string    `json:"status,omitempty"`
	Survey     *Survey   `json:"survey,omitempty"`
}

// Survey is the survey of a survey.answered event.
type Survey struct {
	Kind  string `json:"kind"`
	Score int    `json:"score"`
}

// Labels maps a helpdesk's own values, lower-cased, to the contract's:
// channels to channel label values, priorities to low, normal, high or
// urgent, statuses to open, pending, on_hold, or "resolved" (the ticket is
// solved or closed: ticket.resolved). A value missing from a map is
// dropped (the event carries no channel or priority, which the aggregator
// reads as unknown and normal) or, for a status, ignored.
type Labels struct {
	Channels   map[string]string
	Priorities map[string]string
	Statuses   map[string]string
}

// StatusResolved is the value of Labels.Statuses, beyond the contract's
// three statuses, for a solved or closed ticket.
const StatusResolved = "resolved"

// Source is one helpdesk's webhook.
type Source interface {
	// Name is the source's path segment and label value: "zendesk".
	Name() string
	// Verify checks the delivery's signature or shared token against
	// secret. An error (ErrUnauthorized, wrapped with the reason) is
	// answered 401; it never contains the secret.
	Verify(h http.Header, query url.Values, body, secret []byte, now time.Time) error
	// Map returns the contract events the payload stands for, with the
	// labels mapped through l. A payload of a kind the aggregator does
	// not use maps to no event and no error. An error means the payload
	// cannot be read (ErrBadPayload, wrapped with the reason): answered
	// 400 and dead-lettered, so the helpdesk does not retry it forever.
	Map(h http.Header, body []byte, l *Labels) ([]Event, error)
	// Labels returns the source's default mapping table.
	Labels() Labels
}

// Errors of Verify and Map.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrBadPayload   = errors.New("bad payload")
)

// All returns every source, in the order the documentation lists them.
func All() []Source {
	return []Source{Zendesk{}, Chatwoot{}, Zammad{}, Jira{}, Freshdesk{}}
}

// VerifyToken checks a shared token, for helpdesks that cannot sign their
// deliveries: "Authorization: Bearer <token>", or "?token=<token>" for
// those that can only set a URL. The comparison takes constant time.
func VerifyToken(h http.Header, query url.Values, secret []byte) error {
	got := query.Get("token")
	if auth := h.Get("Authorization"); auth != "" {
		var ok bool
		if got, ok = strings.CutPrefix(auth, "Bearer "); !ok {
			return errors.Join(ErrUnauthorized, errors.New("the Authorization header must be \"Bearer <token>\""))
		}
	}
	if got == "" {
		return errors.Join(ErrUnauthorized, errors.New("no token: send \"Authorization: Bearer <token>\" or ?token=<token>"))
	}
	if subtle.ConstantTimeCompare([]byte(got), secret) != 1 {
		return errors.Join(ErrUnauthorized, errors.New("wrong token"))
	}
	return nil
}

// jsonText is a JSON string, number or null, read as trimmed text ("" for
// null): helpdesks write the same id or value as either, from one payload
// to the next.
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(strings.TrimSpace(s))
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %s", b)
		}
		*t = jsonText(n.String())
	}
	return nil
}
