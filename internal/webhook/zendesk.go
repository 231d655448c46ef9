package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Zendesk maps Zendesk's event-subscription webhooks (payloads whose
// "type" is "zen:event-type:ticket.…", documented at
// developer.zendesk.com/api-reference/webhooks/event-types/ticket-events)
// to contract events. Deliveries are signed: see Verify.
//
// Zendesk sends one webhook per ticket event, each with its own event id
// (the top-level "id"), so every contract event id is that id plus the
// kind of contract event: "zendesk:<id>:opened", ":replied",
// ":customer_message", ":status", ":resolved", ":reopened", ":updated".
type Zendesk struct{}

// Zendesk's webhook event types the aggregator uses. Every other type
// (tags, subject, assignee, user and organization events, …) maps to no
// event.
const (
	zendeskTicketCreated   = "zen:event-type:ticket.created"
	zendeskStatusChanged   = "zen:event-type:ticket.status_changed"
	zendeskPriorityChanged = "zen:event-type:ticket.priority_changed"
	zendeskCommentAdded    = "zen:event-type:ticket.comment_added"
	zendeskGroupChanged    = "zen:event-type:ticket.group_assignment_changed"
)

// zendeskMaxSkew is how far the signature timestamp may lie from now,
// either way, before a delivery is refused as a replay.
const zendeskMaxSkew = 5 * time.Minute

// zendeskMaxID bounds the helpdesk's event and ticket ids, so that the
// derived contract ids stay within events.MaxIDLen.
const zendeskMaxID = 100

// Name returns "zendesk".
func (Zendesk) Name() string { return "zendesk" }

// Verify checks Zendesk's webhook signature: X-Zendesk-Webhook-Signature
// is base64(HMAC-SHA256(secret, X-Zendesk-Webhook-Signature-Timestamp +
// body)). The timestamp (RFC 3339, as Zendesk sends it) must lie within
// 5 minutes of now, so a captured delivery cannot be replayed later. The
// signature is compared in constant time; errors never contain the
// secret or the expected signature.
func (Zendesk) Verify(h http.Header, _ url.Values, body, secret []byte, now time.Time) error {
	if len(secret) == 0 {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: no signing secret configured"))
	}
	sig := h.Get("X-Zendesk-Webhook-Signature")
	if sig == "" {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: missing header X-Zendesk-Webhook-Signature"))
	}
	stamp := h.Get("X-Zendesk-Webhook-Signature-Timestamp")
	if stamp == "" {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: missing header X-Zendesk-Webhook-Signature-Timestamp"))
	}
	signedAt, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: X-Zendesk-Webhook-Signature-Timestamp is not an RFC 3339 time"))
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: X-Zendesk-Webhook-Signature is not a base64 HMAC-SHA256"))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(stamp))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.Join(ErrUnauthorized, errors.New("zendesk: signature mismatch (wrong secret, or the body or timestamp was altered)"))
	}
	if d := now.Sub(signedAt); d > zendeskMaxSkew || d < -zendeskMaxSkew {
		return errors.Join(ErrUnauthorized, fmt.Errorf("zendesk: stale signature timestamp %s (more than %s from now): refused as a replay", stamp, zendeskMaxSkew))
	}
	return nil
}

// zendeskPayload is the envelope every Zendesk event webhook shares.
type zendeskPayload struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Time    string          `json:"time"`
	Subject string          `json:"subject"`
	Detail  zendeskDetail   `json:"detail"`
	Event   json.RawMessage `json:"event"`
}

// zendeskDetail is the ticket as it stands after the event.
type zendeskDetail struct {
	ID        zendeskRef `json:"id"`
	ActorID   zendeskRef `json:"actor_id"`
	GroupID   zendeskRef `json:"group_id"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	Priority  *string    `json:"priority"`
	Status    *string    `json:"status"`
	Via       struct {
		Channel string `json:"channel"`
	} `json:"via"`
}

// zendeskChange is the "event" object of a field change.
type zendeskChange struct {
	Current  zendeskRef `json:"current"`
	Previous zendeskRef `json:"previous"`
}

// zendeskComment is the "event" object of ticket.comment_added.
type zendeskComment struct {
	Comment *struct {
		ID       zendeskRef `json:"id"`
		IsPublic *bool      `json:"is_public"`
		Author   *struct {
			ID      zendeskRef `json:"id"`
			IsStaff bool       `json:"is_staff"`
		} `json:"author"`
	} `json:"comment"`
}

// zendeskRef reads an id or value that Zendesk writes as a string, a
// number, null, or an object with an "id" (webhooks write ids as strings;
// other Zendesk feeds as numbers).
type zendeskRef string

func (r *zendeskRef) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var o struct {
			ID zendeskRef `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = o.ID
		return nil
	}
	var t jsonText
	err := t.UnmarshalJSON(b)
	*r = zendeskRef(t)
	return err
}

// Map turns one Zendesk event webhook into contract events:
//
//   - ticket.created: ticket.opened, with channel (detail.via.channel),
//     priority (detail.priority) and team (detail.group_id).
//   - ticket.comment_added: a public comment by staff is ticket.replied
//     (agent_id: the author); a public comment by anyone else is
//     ticket.customer_message; internal notes (is_public false) and the
//     comment written in the update that created the ticket
//     (detail.updated_at equal to detail.created_at) map to nothing.
//   - ticket.status_changed: through Labels.Statuses, ticket.resolved when
//     the new status is "resolved" and the previous one was not;
//     ticket.reopened when the previous status was "resolved" and the new
//     one is not; ticket.status_changed otherwise.
//   - ticket.priority_changed and ticket.group_assignment_changed:
//     ticket.updated with the new priority or team.
//
// occurred_at is the payload's "time", in UTC. Any other type maps to no
// event.
func (z Zendesk) Map(_ http.Header, body []byte, l *Labels) ([]Event, error) {
	var p zendeskPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: zendesk: not a JSON event webhook: %w", ErrBadPayload, err)
	}
	switch p.Type {
	case zendeskTicketCreated, zendeskStatusChanged, zendeskPriorityChanged, zendeskCommentAdded, zendeskGroupChanged:
	default:
		return nil, nil
	}
	if l == nil {
		d := z.Labels()
		l = &d
	}
	if p.ID == "" {
		return nil, fmt.Errorf("%w: zendesk: %s without an event id", ErrBadPayload, p.Type)
	}
	if len(p.ID) > zendeskMaxID {
		return nil, fmt.Errorf("%w: zendesk: event id longer than %d characters", ErrBadPayload, zendeskMaxID)
	}
	ticket := string(p.Detail.ID)
	if ticket == "" {
		ticket, _ = strings.CutPrefix(p.Subject, "zen:ticket:")
	}
	if ticket == "" {
		return nil, fmt.Errorf("%w: zendesk: %s without a ticket id (detail.id)", ErrBadPayload, p.Type)
	}
	if len(ticket) > zendeskMaxID {
		return nil, fmt.Errorf("%w: zendesk: ticket id longer than %d characters", ErrBadPayload, zendeskMaxID)
	}
	if p.Time == "" {
		return nil, fmt.Errorf("%w: zendesk: %s without a time", ErrBadPayload, p.Type)
	}
	at, err := time.Parse(time.RFC3339Nano, p.Time)
	if err != nil {
		return nil, fmt.Errorf("%w: zendesk: time %q is not an RFC 3339 timestamp", ErrBadPayload, p.Time)
	}
	base := Event{TicketID: "zendesk:" + ticket, OccurredAt: at.UTC()}
	ev := func(kind, typ string) Event {
		e := base
		e.ID = "zendesk:" + p.ID + ":" + kind
		e.Type = typ
		return e
	}

	switch p.Type {
	case zendeskTicketCreated:
		e := ev("opened", "ticket.opened")
		e.Channel = zendeskLookup(l.Channels, p.Detail.Via.Channel)
		if p.Detail.Priority != nil {
			e.Priority = zendeskLookup(l.Priorities, *p.Detail.Priority)
		}
		e.Team = zendeskTeam(p.Detail.GroupID)
		return []Event{e}, nil

	case zendeskCommentAdded:
		var c zendeskComment
		if err := unmarshalEvent(p, &c); err != nil {
			return nil, err
		}
		if c.Comment == nil || c.Comment.IsPublic == nil || c.Comment.Author == nil {
			return nil, fmt.Errorf("%w: zendesk: %s without event.comment.is_public and event.comment.author", ErrBadPayload, p.Type)
		}
		if !*c.Comment.IsPublic || zendeskOpeningUpdate(p.Detail) {
			return nil, nil
		}
		if c.Comment.Author.IsStaff {
			e := ev("replied", "ticket.replied")
			e.AgentID = zendeskAgent(c.Comment.Author.ID)
			return []Event{e}, nil
		}
		return []Event{ev("customer_message", "ticket.customer_message")}, nil

	case zendeskStatusChanged:
		var c zendeskChange
		if err := unmarshalEvent(p, &c); err != nil {
			return nil, err
		}
		cur := zendeskLookup(l.Statuses, string(c.Current))
		prev := zendeskLookup(l.Statuses, string(c.Previous))
		switch {
		case cur == "":
			return nil, nil // deleted, archived, a status the table leaves out
		case cur == StatusResolved && prev == StatusResolved:
			return nil, nil // solved → closed: resolved already
		case cur == StatusResolved:
			e := ev("resolved", "ticket.resolved")
			e.AgentID = zendeskAgent(p.Detail.ActorID)
			return []Event{e}, nil
		case prev == StatusResolved:
			// A reopening makes the ticket open; the contract has no way to
			// say "reopened as pending" at one instant (a status change at
			// the same time is applied before the reopening).
			return []Event{ev("reopened", "ticket.reopened")}, nil
		default:
			e := ev("status", "ticket.status_changed")
			e.Status = cur
			return []Event{e}, nil
		}

	case zendeskPriorityChanged:
		var c zendeskChange
		if err := unmarshalEvent(p, &c); err != nil {
			return nil, err
		}
		pri := zendeskLookup(l.Priorities, string(c.Current))
		if pri == "" {
			return nil, nil // priority cleared, or not in the table
		}
		e := ev("updated", "ticket.updated")
		e.Priority = pri
		return []Event{e}, nil

	case zendeskGroupChanged:
		var c zendeskChange
		if err := unmarshalEvent(p, &c); err != nil {
			return nil, err
		}
		e := ev("updated", "ticket.updated")
		e.Team = zendeskTeam(c.Current)
		if e.Team == "" {
			e.Team = "unknown" // the group was removed
		}
		return []Event{e}, nil
	}
	return nil, nil
}

// Labels returns the default table. Channels: Zendesk's via.channel
// values. Priorities: low, normal, high, urgent (Zendesk's own four).
// Statuses: new and open are open, pending is pending, hold is on_hold,
// solved and closed are resolved.
func (Zendesk) Labels() Labels {
	return Labels{
		Channels: map[string]string{
			"email":            "email",
			"web":              "web",
			"web_form":         "web",
			"help_center":      "web",
			"web_widget":       "web",
			"chat":             "chat",
			"native_messaging": "chat",
			"messaging":        "chat",
			"mobile_sdk":       "chat",
			"voice":            "phone",
			"phone":            "phone",
			"sms":              "phone",
			"twitter":          "social",
			"facebook":         "social",
			"instagram_dm":     "social",
			"whatsapp":         "social",
			"api":              "api",
			"web_service":      "api",
		},
		Priorities: map[string]string{
			"low":    "low",
			"normal": "normal",
			"high":   "high",
			"urgent": "urgent",
		},
		Statuses: map[string]string{
			"new":     "open",
			"open":    "open",
			"pending": "pending",
			"hold":    "on_hold",
			"solved":  StatusResolved,
			"closed":  StatusResolved,
		},
	}
}

// zendeskLookup maps a helpdesk value, lower-cased, through m; "" when absent.
func zendeskLookup(m map[string]string, v string) string {
	if v == "" {
		return ""
	}
	return m[strings.ToLower(strings.TrimSpace(v))]
}

func unmarshalEvent(p zendeskPayload, v any) error {
	if len(p.Event) == 0 || bytes.Equal(p.Event, []byte("null")) {
		return fmt.Errorf("%w: zendesk: %s without an event object", ErrBadPayload, p.Type)
	}
	if err := json.Unmarshal(p.Event, v); err != nil {
		return fmt.Errorf("%w: zendesk: %s: unreadable event object: %w", ErrBadPayload, p.Type, err)
	}
	return nil
}

// zendeskTeam is the team of a Zendesk group id: the id itself (webhooks
// carry no group name); "" for no group ("0" or empty).
func zendeskTeam(group zendeskRef) string {
	if group == "" || group == "0" || len(group) > zendeskMaxID {
		return ""
	}
	return string(group)
}

// zendeskAgent is the agent_id of a Zendesk user id, "" for none or for
// Zendesk's system user (-1).
func zendeskAgent(user zendeskRef) string {
	if user == "" || user == "0" || strings.HasPrefix(string(user), "-") || len(user) > zendeskMaxID {
		return ""
	}
	return string(user)
}

// zendeskOpeningUpdate reports whether the event belongs to the update
// that created the ticket: Zendesk's ticket updated_at then still equals
// its created_at. Its comment is the ticket's first message, which the
// ticket.opened stands for.
func zendeskOpeningUpdate(d zendeskDetail) bool {
	if d.CreatedAt == "" || d.UpdatedAt == "" {
		return false
	}
	c, err1 := time.Parse(time.RFC3339Nano, d.CreatedAt)
	u, err2 := time.Parse(time.RFC3339Nano, d.UpdatedAt)
	return err1 == nil && err2 == nil && c.Equal(u)
}
