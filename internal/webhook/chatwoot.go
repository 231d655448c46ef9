package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Chatwoot maps Chatwoot's account webhooks (Settings → Integrations →
// Webhooks) to contract events. A conversation is a ticket:
//
//	conversation_created          → ticket.opened
//	conversation_status_changed   → ticket.status_changed, ticket.resolved or ticket.reopened
//	conversation_updated          → ticket.updated (priority or team changed)
//	message_created               → ticket.replied (outgoing, by a user) or
//	                                ticket.customer_message (incoming); private notes map to nothing
//	message_updated (input_csat)  → survey.answered (csat, Chatwoot's 1–5 rating as is)
//
// Every other event (contact_*, webwidget_triggered, conversation_typing_*,
// …) maps to nothing. Status changes are read from
// conversation_status_changed only, never from the conversation_updated that
// Chatwoot sends for the same save, so one change is one event.
//
// Chatwoot payloads carry no event id, so ids are built from the ids and
// times Chatwoot does send: the conversation id with its updated_at (exactly
// as written in the payload) for conversation events, the message id for
// message events, each followed by the kind of event. A redelivery, by
// Chatwoot's retries or by hand, maps to the same ids.
type Chatwoot struct{}

// Chatwoot's signing headers (account webhooks, Chatwoot v4.11.2 and later).
const (
	chatwootSignatureHeader = "X-Chatwoot-Signature"
	chatwootTimestampHeader = "X-Chatwoot-Timestamp"
)

// chatwootMaxSkew is how far X-Chatwoot-Timestamp may lie from now, either
// way; Chatwoot asks receivers to reject older requests after about 5 minutes.
const chatwootMaxSkew = 5 * time.Minute

// Name returns "chatwoot".
func (Chatwoot) Name() string { return "chatwoot" }

// Verify checks a delivery. When X-Chatwoot-Signature is present it must be
// "sha256=" and the hex HMAC-SHA256, keyed with secret, of
// "<X-Chatwoot-Timestamp>.<body>", with a timestamp (Unix seconds) within 5
// minutes of now. Without that header the delivery must carry the secret as
// a shared token (VerifyToken), for Chatwoot versions that do not sign.
func (Chatwoot) Verify(h http.Header, query url.Values, body, secret []byte, now time.Time) error {
	sig := h.Get(chatwootSignatureHeader)
	if sig == "" {
		return VerifyToken(h, query, secret)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return errors.Join(ErrUnauthorized, errors.New(chatwootSignatureHeader+" must be \"sha256=<hex>\""))
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errors.Join(ErrUnauthorized, errors.New(chatwootSignatureHeader+" must be \"sha256=\" and 64 hex digits"))
	}
	ts := h.Get(chatwootTimestampHeader)
	if ts == "" {
		return errors.Join(ErrUnauthorized, errors.New("missing "+chatwootTimestampHeader+" header (it is signed with the body)"))
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.Join(ErrUnauthorized, errors.New(chatwootTimestampHeader+" must be Unix seconds"))
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > chatwootMaxSkew || skew < -chatwootMaxSkew {
		return errors.Join(ErrUnauthorized, fmt.Errorf("stale %s: %s from now, more than %s", chatwootTimestampHeader, skew.Round(time.Second), chatwootMaxSkew))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.Join(ErrUnauthorized, errors.New(chatwootSignatureHeader+" does not match the body and timestamp (wrong secret or altered body)"))
	}
	return nil
}

// Labels returns the default table. Channels are the inbox's channel type
// (conversation.channel, "Channel::WebWidget"), priorities Chatwoot's four
// (low, medium, high, urgent), statuses its four (open, pending, snoozed,
// resolved). Chatwoot's "pending" is a conversation the bot still holds or
// no agent has taken yet: it waits on the agent side, so it maps to open.
// "snoozed" is set aside by the agent until the customer replies or a
// chosen time: it maps to pending, which pauses the resolution clock by
// default.
func (Chatwoot) Labels() Labels {
	return Labels{
		Channels: map[string]string{
			"channel::webwidget":      "chat",
			"channel::email":          "email",
			"channel::api":            "other",
			"channel::whatsapp":       "social",
			"channel::facebookpage":   "social",
			"channel::instagram":      "social",
			"channel::twitterprofile": "social",
			"channel::telegram":       "social",
			"channel::line":           "social",
			"channel::tiktok":         "social",
			"channel::sms":            "phone",
			"channel::twiliosms":      "phone",
			"channel::voice":          "phone",
		},
		Priorities: map[string]string{
			"low":    "low",
			"medium": "normal",
			"high":   "high",
			"urgent": "urgent",
		},
		Statuses: map[string]string{
			"open":     "open",
			"pending":  "open",
			"snoozed":  "pending",
			"resolved": StatusResolved,
		},
	}
}

// cwConversation is the conversation object of Chatwoot's webhooks
// (Conversations::EventDataPresenter#push_data): the whole payload of the
// conversation_* events, and the "conversation" of message events.
type cwConversation struct {
	ID        json.Number     `json:"id"`
	Channel   string          `json:"channel"`
	Status    string          `json:"status"`
	Priority  *string         `json:"priority"`
	CreatedAt json.RawMessage `json:"created_at"` // Unix seconds
	UpdatedAt json.RawMessage `json:"updated_at"` // Unix seconds with fraction
	Meta      struct {
		Team *struct {
			Name string `json:"name"`
		} `json:"team"`
	} `json:"meta"`
}

// cwChange is one entry of changed_attributes.
type cwChange struct {
	Current  json.RawMessage `json:"current_value"`
	Previous json.RawMessage `json:"previous_value"`
}

// cwConversationEvent is a conversation_* payload.
type cwConversationEvent struct {
	cwConversation
	// ChangedAttributes is a list of one-key objects:
	// [{"status": {"current_value": "resolved", "previous_value": "open"}}].
	ChangedAttributes []map[string]cwChange `json:"changed_attributes"`
}

// cwMessageEvent is a message_* payload (Message#webhook_data).
type cwMessageEvent struct {
	ID                json.Number     `json:"id"`
	MessageType       json.RawMessage `json:"message_type"` // "incoming", or 0 in older versions
	ContentType       string          `json:"content_type"`
	Private           bool            `json:"private"`
	CreatedAt         json.RawMessage `json:"created_at"`
	ContentAttributes struct {
		SubmittedValues json.RawMessage `json:"submitted_values"`
	} `json:"content_attributes"`
	Sender *struct {
		ID   json.Number `json:"id"`
		Type string      `json:"type"`
	} `json:"sender"`
	Conversation *cwConversation `json:"conversation"`
}

// Map returns the events of one Chatwoot webhook payload.
func (Chatwoot) Map(_ http.Header, body []byte, l *Labels) ([]Event, error) {
	var head struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, cwBad("not a JSON object: %v", err)
	}
	switch head.Event {
	case "conversation_created", "conversation_status_changed", "conversation_updated":
		var p cwConversationEvent
		if err := cwDecode(body, &p); err != nil {
			return nil, err
		}
		if p.ID == "" {
			return nil, cwBad("%s without a conversation id", head.Event)
		}
		switch head.Event {
		case "conversation_created":
			return cwOpened(&p.cwConversation, l)
		case "conversation_status_changed":
			return cwStatusChanged(&p, l)
		default:
			return cwUpdated(&p, l)
		}
	case "message_created", "message_updated":
		var m cwMessageEvent
		if err := cwDecode(body, &m); err != nil {
			return nil, err
		}
		if m.Conversation == nil || m.Conversation.ID == "" {
			return nil, cwBad("%s without conversation.id", head.Event)
		}
		if m.ID == "" {
			return nil, cwBad("%s without a message id", head.Event)
		}
		if head.Event == "message_created" {
			return cwMessage(&m)
		}
		return cwCSAT(&m)
	}
	return nil, nil
}

func cwOpened(c *cwConversation, l *Labels) ([]Event, error) {
	at, err := cwTime(c.CreatedAt)
	if err != nil {
		return nil, cwBad("conversation_created: created_at: %v", err)
	}
	ev := Event{
		ID:         "chatwoot:" + c.ID.String() + ":opened",
		Type:       "ticket.opened",
		TicketID:   cwTicket(c.ID),
		OccurredAt: at,
		Channel:    cwLookup(l.Channels, c.Channel),
	}
	if c.Priority != nil {
		ev.Priority = cwLookup(l.Priorities, *c.Priority)
	}
	if c.Meta.Team != nil {
		ev.Team = c.Meta.Team.Name
	}
	return []Event{ev}, nil
}

func cwStatusChanged(p *cwConversationEvent, l *Labels) ([]Event, error) {
	at, stamp, err := cwUpdatedAt(&p.cwConversation)
	if err != nil {
		return nil, cwBad("conversation_status_changed: %v", err)
	}
	status := p.Status
	var previous string
	if ch, ok := p.change("status"); ok {
		if s, ok := cwString(ch.Current); ok {
			status = s
		}
		previous, _ = cwString(ch.Previous)
	}
	now := cwLookup(l.Statuses, status)
	if now == "" {
		return nil, nil
	}
	base := "chatwoot:" + p.ID.String() + ":" + stamp + ":"
	ticket := cwTicket(p.ID)
	if now == StatusResolved {
		return []Event{{ID: base + "resolved", Type: "ticket.resolved", TicketID: ticket, OccurredAt: at}}, nil
	}
	var evs []Event
	if cwLookup(l.Statuses, previous) == StatusResolved {
		evs = append(evs, Event{ID: base + "reopened", Type: "ticket.reopened", TicketID: ticket, OccurredAt: at})
		if now == "open" {
			return evs, nil // a reopened ticket is open
		}
	}
	return append(evs, Event{ID: base + "status", Type: "ticket.status_changed", TicketID: ticket, OccurredAt: at, Status: now}), nil
}

func cwUpdated(p *cwConversationEvent, l *Labels) ([]Event, error) {
	ev := Event{Type: "ticket.updated", TicketID: cwTicket(p.ID)}
	if ch, ok := p.change("priority"); ok {
		if s, ok := cwString(ch.Current); ok {
			ev.Priority = cwLookup(l.Priorities, s)
		} else {
			ev.Priority = "normal" // priority removed: the contract's default
		}
	}
	if _, ok := p.change("team_id"); ok {
		// changed_attributes carries team ids; the new team's name is in meta.team.
		ev.Team = "unknown"
		if p.Meta.Team != nil && p.Meta.Team.Name != "" {
			ev.Team = p.Meta.Team.Name
		}
	}
	if ev.Priority == "" && ev.Team == "" {
		return nil, nil // assignee, labels, custom attributes, status (see conversation_status_changed), …
	}
	at, stamp, err := cwUpdatedAt(&p.cwConversation)
	if err != nil {
		return nil, cwBad("conversation_updated: %v", err)
	}
	ev.ID = "chatwoot:" + p.ID.String() + ":" + stamp + ":updated"
	ev.OccurredAt = at
	return []Event{ev}, nil
}

func cwMessage(m *cwMessageEvent) ([]Event, error) {
	if m.Private {
		return nil, nil // an internal note
	}
	var typ string
	switch cwMessageType(m.MessageType) {
	case "incoming":
		typ = "ticket.customer_message"
	case "outgoing":
		// Only a person's reply counts: not a bot's, an automation's or a campaign's.
		if m.Sender == nil || m.Sender.Type != "user" {
			return nil, nil
		}
		typ = "ticket.replied"
	default:
		return nil, nil // activity, template
	}
	at, err := cwTime(m.CreatedAt)
	if err != nil {
		return nil, cwBad("message_created: created_at: %v", err)
	}
	ev := Event{
		ID:         "chatwoot:msg:" + m.ID.String() + ":" + strings.TrimPrefix(typ, "ticket."),
		Type:       typ,
		TicketID:   cwTicket(m.Conversation.ID),
		OccurredAt: at,
	}
	if typ == "ticket.replied" {
		ev.AgentID = m.Sender.ID.String()
	}
	return []Event{ev}, nil
}

// cwCSAT maps a message_updated of a CSAT survey message that carries the
// customer's rating; every other message_updated maps to nothing.
func cwCSAT(m *cwMessageEvent) ([]Event, error) {
	if m.ContentType != "input_csat" || len(m.ContentAttributes.SubmittedValues) == 0 {
		return nil, nil
	}
	var sv struct {
		Response *struct {
			Rating *int `json:"rating"`
		} `json:"csat_survey_response"`
	}
	if err := json.Unmarshal(m.ContentAttributes.SubmittedValues, &sv); err != nil {
		return nil, cwBad("message_updated: submitted_values: %v", err)
	}
	if sv.Response == nil || sv.Response.Rating == nil {
		return nil, nil
	}
	score := *sv.Response.Rating
	if score < 1 || score > 5 {
		return nil, cwBad("message_updated: csat rating %d outside 1–5", score)
	}
	// The message carries no time of the answer; saving it touches the
	// conversation, whose updated_at is that time. Without it, the time the
	// survey was sent.
	at, _, err := cwUpdatedAt(m.Conversation)
	if err != nil {
		if at, err = cwTime(m.CreatedAt); err != nil {
			return nil, cwBad("message_updated: neither conversation.updated_at nor created_at: %v", err)
		}
	}
	return []Event{{
		ID:         "chatwoot:msg:" + m.ID.String() + ":csat",
		Type:       "survey.answered",
		TicketID:   cwTicket(m.Conversation.ID),
		OccurredAt: at,
		Survey:     &Survey{Kind: "csat", Score: score},
	}}, nil
}

func (p *cwConversationEvent) change(attr string) (cwChange, bool) {
	for _, m := range p.ChangedAttributes {
		if ch, ok := m[attr]; ok {
			return ch, true
		}
	}
	return cwChange{}, false
}

func cwTicket(id json.Number) string { return "chatwoot:" + id.String() }

// cwUpdatedAt returns the conversation's updated_at as a time and as the
// text the payload has, for ids.
func cwUpdatedAt(c *cwConversation) (time.Time, string, error) {
	at, err := cwTime(c.UpdatedAt)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("updated_at: %w", err)
	}
	return at, strings.Trim(string(bytes.TrimSpace(c.UpdatedAt)), `"`), nil
}

// cwTime reads one of Chatwoot's times: Unix seconds (with or without a
// fraction; conversation times) or a string (message times: ISO 8601 from
// Rails' JSON, or "2020-03-03 13:05:57 UTC" as in older documentation).
func cwTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, errors.New("missing")
	}
	if raw[0] != '"' {
		return cwUnix(string(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05.999999999 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := cwUnix(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// cwUnix parses decimal Unix seconds exactly (no float rounding), so the
// same text always gives the same time.
func cwUnix(s string) (time.Time, error) {
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, fmt.Errorf("%q is not Unix seconds", s)
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not Unix seconds", s)
		}
		nsec = int64(n)
		for i := len(frac); i < 9; i++ {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// cwMessageType reads message_type, a name in webhooks ("incoming") and
// the enum's number in older payloads (0 incoming, 1 outgoing, 2 activity,
// 3 template).
func cwMessageType(raw json.RawMessage) string {
	if s, ok := cwString(raw); ok {
		return s
	}
	switch string(bytes.TrimSpace(raw)) {
	case "0":
		return "incoming"
	case "1":
		return "outgoing"
	}
	return ""
}

// cwString returns raw as a string when it is a non-empty JSON string.
func cwString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" {
		return "", false
	}
	return s, true
}

func cwDecode(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return cwBad("%v", err)
	}
	return nil
}

func cwBad(format string, args ...any) error {
	return fmt.Errorf("%w: chatwoot: %s", ErrBadPayload, fmt.Sprintf(format, args...))
}

// cwLookup maps a helpdesk value through m, lower-cased; "" when missing.
func cwLookup(m map[string]string, v string) string {
	if v == "" {
		return ""
	}
	return m[strings.ToLower(v)]
}
