package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Freshdesk maps the deliveries of Freshdesk automation rules whose
// action is "Trigger Webhook". Freshdesk has no webhook subscription of
// its own: each rule posts a body the admin writes, so this source reads
// the one JSON template of docs/webhooks.md (Freshdesk) (placeholders such
// as {{ticket.id}} and {{ticket.status}}, plus an "event" field the admin
// sets per rule). Deliveries are unsigned, so Verify checks a shared token
// that the rule sends in a custom Authorization header.
type Freshdesk struct{}

// Name returns "freshdesk".
func (Freshdesk) Name() string { return "freshdesk" }

// Verify checks the shared token: "Authorization: Bearer <token>" (a
// custom header of the rule's Trigger Webhook action) or ?token=<token>.
// Freshdesk signs nothing, so there is no signature or timestamp to check.
func (Freshdesk) Verify(h http.Header, query url.Values, _, secret []byte, _ time.Time) error {
	return VerifyToken(h, query, secret)
}

// freshdeskBody is the body template of docs/webhooks.md (Freshdesk). Every
// value is a string because Freshdesk renders placeholders as text; a
// JSON number is accepted too where an admin leaves the quotes out.
type freshdeskBody struct {
	Event           jsonText `json:"event"`
	TicketID        jsonText `json:"ticket_id"`
	Status          jsonText `json:"status"`
	PreviousStatus  jsonText `json:"previous_status"`
	Priority        jsonText `json:"priority"`
	Source          jsonText `json:"source"`
	Group           jsonText `json:"group"`
	AgentEmail      jsonText `json:"agent_email"`
	CreatedAt       jsonText `json:"created_at"`
	UpdatedAt       jsonText `json:"updated_at"`
	StatusChangedAt jsonText `json:"status_changed_at"`
	Rating          jsonText `json:"rating"`
	Private         jsonText `json:"private"`
}

// Map turns one rule's delivery into contract events. The event field says
// which rule fired: created, agent_reply, customer_reply, status_changed,
// priority_changed, group_changed, source_changed or csat; any other value
// (note, ticket_type_changed, …) maps to no event.
func (Freshdesk) Map(_ http.Header, body []byte, l *Labels) ([]Event, error) {
	var b freshdeskBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: freshdesk: not the JSON body template: %w", ErrBadPayload, err)
	}
	if b.Event == "" {
		return nil, fmt.Errorf("%w: freshdesk: no \"event\" field: set it in the rule's webhook body", ErrBadPayload)
	}
	ticket := strings.TrimPrefix(string(b.TicketID), "#")
	if ticket == "" {
		return nil, fmt.Errorf("%w: freshdesk: no ticket_id ({{ticket.id}})", ErrBadPayload)
	}
	if strings.Contains(ticket, "{{") {
		return nil, fmt.Errorf("%w: freshdesk: ticket_id %q is an unrendered placeholder", ErrBadPayload, ticket)
	}
	event := strings.ToLower(string(b.Event))
	if strings.EqualFold(string(b.Private), "true") {
		return nil, nil // an internal note never counts, whichever rule sent it
	}
	timeField, timeValue := "updated_at", b.UpdatedAt
	switch event {
	case "created":
		timeField, timeValue = "created_at", b.CreatedAt
	case "status_changed":
		if b.StatusChangedAt != "" {
			timeField, timeValue = "status_changed_at", b.StatusChangedAt
		}
	case "agent_reply", "customer_reply", "priority_changed", "group_changed", "source_changed", "csat":
	default:
		return nil, nil // a rule the aggregator has no use for, e.g. a note
	}
	at, err := parseFreshdeskTime(string(timeValue))
	if err != nil {
		return nil, fmt.Errorf("%w: freshdesk: %s: %w", ErrBadPayload, timeField, err)
	}
	if l == nil {
		d := Freshdesk{}.Labels()
		l = &d
	}
	m := fdMapper{ticket: ticket, at: at, agent: string(b.AgentEmail)}
	switch event {
	case "created":
		ev := m.event("opened", "ticket.opened")
		ev.Channel = lookup(l.Channels, b.Source)
		ev.Priority = lookup(l.Priorities, b.Priority)
		ev.Team = string(b.Group)
		evs := []Event{ev}
		// A ticket logged as already pending, on hold or resolved.
		switch st := lookup(l.Statuses, b.Status); st {
		case "pending", "on_hold":
			evs = append(evs, m.status(st))
		case StatusResolved:
			evs = append(evs, m.withAgent(m.event("resolved", "ticket.resolved")))
		}
		return evs, nil
	case "agent_reply":
		return []Event{m.withAgent(m.event("replied", "ticket.replied"))}, nil
	case "customer_reply":
		return []Event{m.event("customer_message", "ticket.customer_message")}, nil
	case "status_changed":
		return m.statusChange(lookup(l.Statuses, b.Status), lookup(l.Statuses, b.PreviousStatus)), nil
	case "priority_changed":
		p := lookup(l.Priorities, b.Priority)
		if p == "" {
			return nil, nil
		}
		ev := m.event("priority", "ticket.updated")
		ev.Priority = p
		return []Event{ev}, nil
	case "group_changed":
		ev := m.event("group", "ticket.updated")
		ev.Team = string(b.Group)
		if ev.Team == "" {
			ev.Team = "unknown" // the group was removed
		}
		return []Event{ev}, nil
	case "source_changed":
		c := lookup(l.Channels, b.Source)
		if c == "" {
			return nil, nil
		}
		ev := m.event("source", "ticket.updated")
		ev.Channel = c
		return []Event{ev}, nil
	default: // csat
		score, err := freshdeskCSAT(string(b.Rating))
		if err != nil {
			return nil, fmt.Errorf("%w: freshdesk: rating: %w", ErrBadPayload, err)
		}
		ev := m.event("csat", "survey.answered")
		ev.Survey = &Survey{Kind: "csat", Score: score}
		return []Event{ev}, nil
	}
}

// fdMapper builds the events of one delivery.
type fdMapper struct {
	ticket string
	at     time.Time
	agent  string
}

// event returns an event of type typ whose id is the ticket, the event
// time and kind: a rule that runs again on the same change renders the
// same values and so the same id.
func (m fdMapper) event(kind, typ string) Event {
	return Event{
		ID:         fmt.Sprintf("freshdesk:%s:%d:%s", m.ticket, m.at.Unix(), kind),
		Type:       typ,
		TicketID:   "freshdesk:" + m.ticket,
		OccurredAt: m.at,
	}
}

func (m fdMapper) withAgent(e Event) Event {
	if !strings.Contains(m.agent, "{{") {
		e.AgentID = m.agent
	}
	return e
}

func (m fdMapper) status(st string) Event {
	e := m.event("status", "ticket.status_changed")
	e.Status = st
	return e
}

// statusChange maps a change to status st from prev (both mapped through
// Labels.Statuses, "" when unknown or not sent).
func (m fdMapper) statusChange(st, prev string) []Event {
	switch {
	case st == "":
		return nil
	case st == StatusResolved && prev == StatusResolved:
		return nil // Resolved → Closed: the ticket was resolved already
	case st == StatusResolved:
		return []Event{m.withAgent(m.event("resolved", "ticket.resolved"))}
	case prev == StatusResolved:
		evs := []Event{m.event("reopened", "ticket.reopened")}
		if st != "open" {
			evs = append(evs, m.status(st))
		}
		return evs
	default:
		return []Event{m.status(st)}
	}
}

// lookup maps a Freshdesk value, lower-cased, through table; "" when it
// is missing.
func lookup(table map[string]string, v jsonText) string {
	return table[strings.ToLower(strings.TrimSpace(string(v)))]
}

// freshdeskTimeLayouts are the forms a time placeholder may take: Ruby's
// Time#to_s, which Liquid prints for {{ticket.created_on}} and its kin
// ("2026-11-23 08:00:00 UTC", "2026-11-23 13:30:00 +0530"), and RFC 3339
// for templates that format the time themselves.
var freshdeskTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 UTC",
	"2006-01-02 15:04:05 GMT",
}

func parseFreshdeskTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	for _, layout := range freshdeskTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor \"YYYY-MM-DD hh:mm:ss +hhmm\"", s)
}

// freshdeskCSAT maps a Freshdesk satisfaction rating to a CSAT score 1–5.
// Freshdesk's custom surveys rate on seven points (103 extremely happy …
// 100 neutral … -103 extremely unhappy), its classic survey on three
// (happy, neutral, unhappy). Every happy answer is satisfied (4 or 5),
// neutral is 3 and every unhappy answer is unsatisfied (1 or 2), so the
// CSAT ratio counts what Freshdesk counts as happy.
func freshdeskCSAT(r string) (int, error) {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(r)), " ", "_")
	scores := map[string]int{
		"103": 5, "extremely_happy": 5,
		"102": 4, "very_happy": 4,
		"101": 4, "happy": 4,
		"100": 3, "neutral": 3,
		"-101": 2, "unhappy": 2,
		"-102": 2, "very_unhappy": 2,
		"-103": 1, "extremely_unhappy": 1,
	}
	if s, ok := scores[key]; ok {
		return s, nil
	}
	if n, err := strconv.Atoi(key); err == nil && n >= 1 && n <= 5 {
		return n, nil // already on a 1–5 scale
	}
	return 0, fmt.Errorf("%q is not a Freshdesk rating (103 … -103, happy/neutral/unhappy, or 1–5)", r)
}

// Labels returns Freshdesk's default mapping table: its ticket sources,
// priorities and statuses (as {{ticket.source}}, {{ticket.priority}} and
// {{ticket.status}} print them, lower-cased) to the contract's values.
func (Freshdesk) Labels() Labels {
	return Labels{
		Channels: map[string]string{
			"email":           "email",
			"outbound email":  "email",
			"portal":          "web",
			"feedback widget": "web",
			"forum":           "web",
			"e-commerce":      "web",
			"ecommerce":       "web",
			"phone":           "phone",
			"chat":            "chat",
			"mobihelp":        "chat",
			"bot":             "chat",
			"twitter":         "social",
			"facebook":        "social",
			"whatsapp":        "social",
			"instagram":       "social",
		},
		Priorities: map[string]string{
			"low":    "low",
			"medium": "normal",
			"high":   "high",
			"urgent": "urgent",
		},
		Statuses: map[string]string{
			"open":                   "open",
			"pending":                "pending",
			"waiting on customer":    "pending",
			"waiting on third party": "on_hold",
			"resolved":               StatusResolved,
			"closed":                 StatusResolved,
		},
	}
}
