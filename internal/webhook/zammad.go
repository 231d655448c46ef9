package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" // Zammad signs with HMAC-SHA1; this only verifies it.
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

// Zammad maps the default payload of Zammad's trigger webhooks
// (Manage > Webhook, fired by a trigger's "Webhook" action): a JSON object
// {"ticket": {...}, "article": {...}} that names no event kind. The ticket
// is a snapshot taken when the delivery job runs; the article is the one
// the triggering change created, or {} when there was none.
//
// What a delivery stands for is read from the snapshot:
//   - the ticket was just created when the article is its first one
//     (article.id is the lowest of ticket.article_ids), or, without an
//     article, when ticket.created_at equals ticket.updated_at:
//     ticket.opened at created_at;
//   - an article that is not internal and not a note: sender "Agent" is
//     ticket.replied (agent_id from article.created_by_id), sender
//     "Customer" is ticket.customer_message; the ticket's first article
//     belongs to the opening and maps to neither;
//   - the state through Labels.Statuses: a "resolved" state is
//     ticket.resolved at last_close_at (Zammad sets it whenever a ticket
//     enters a closed state) and keyed by it, so every later delivery of
//     the same closed ticket repeats the same id; an open, pending or
//     on-hold state with last_close_at set means the ticket was closed and
//     is open again: ticket.reopened, keyed by that last_close_at, so it
//     is counted once per closing;
//   - every delivery after the creation restates the state
//     (ticket.status_changed) and the priority and group
//     (ticket.updated): the payload does not say what changed, and a
//     restated value changes nothing in the aggregator.
//
// Ids come from Zammad's own ids and times (ticket id, article id,
// updated_at, last_close_at), never from X-Zammad-Delivery, so the same
// snapshot delivered twice maps to the same ids.
type Zammad struct{}

// Name returns "zammad".
func (Zammad) Name() string { return "zammad" }

// zammadSignatureHeader is the header Zammad's UserAgent sets when the
// webhook has an "HMAC SHA1 Signature Token": "sha1=" + hex(HMAC-SHA1).
const zammadSignatureHeader = "X-Hub-Signature"

// Verify checks X-Hub-Signature: "sha1=" followed by the hex HMAC-SHA1 of
// the body keyed with the webhook's signature token. Zammad's scheme has
// no timestamp, so there is nothing to be stale: a replayed delivery maps
// to the ids it mapped to the first time and changes nothing.
func (Zammad) Verify(h http.Header, _ url.Values, body, secret []byte, _ time.Time) error {
	if len(secret) == 0 {
		return errors.Join(ErrUnauthorized, errors.New("no signature token configured for zammad"))
	}
	got := h.Get(zammadSignatureHeader)
	if got == "" {
		return errors.Join(ErrUnauthorized, fmt.Errorf("missing %s header: set the HMAC SHA1 Signature Token of the Zammad webhook", zammadSignatureHeader))
	}
	hexSig, ok := strings.CutPrefix(got, "sha1=")
	if !ok {
		return errors.Join(ErrUnauthorized, fmt.Errorf("bad %s header: want \"sha1=<40 hex digits>\"", zammadSignatureHeader))
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha1.Size {
		return errors.Join(ErrUnauthorized, fmt.Errorf("bad %s header: want \"sha1=<40 hex digits>\"", zammadSignatureHeader))
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return errors.Join(ErrUnauthorized, fmt.Errorf("%s does not match the body: wrong signature token or altered body", zammadSignatureHeader))
	}
	return nil
}

// zammadPayload is the default trigger webhook payload, trimmed to what
// the mapping reads. Ticket stays raw: a custom payload may put a string
// there, or leave it out.
type zammadPayload struct {
	Ticket  json.RawMessage `json:"ticket"`
	Article zammadArticle   `json:"article"`
}

type zammadTicket struct {
	ID                jsonText   `json:"id"`
	CreatedAt         string     `json:"created_at"`
	UpdatedAt         string     `json:"updated_at"`
	LastCloseAt       string     `json:"last_close_at"`
	State             zammadName `json:"state"`
	Priority          zammadName `json:"priority"`
	Group             zammadName `json:"group"`
	CreateArticleType string     `json:"create_article_type"`
	ArticleIDs        []jsonText `json:"article_ids"`
	ArticleCount      int        `json:"article_count"`
	UpdatedByID       jsonText   `json:"updated_by_id"`
}

type zammadArticle struct {
	ID          jsonText `json:"id"`
	CreatedAt   string   `json:"created_at"`
	Sender      string   `json:"sender"`
	Type        string   `json:"type"`
	Internal    bool     `json:"internal"`
	CreatedByID jsonText `json:"created_by_id"`
}

// zammadName is a value Zammad sends either as a name ("state": "open")
// or as the associated record ("priority": {"name": "2 normal", ...}).
type zammadName string

func (n *zammadName) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*n = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = zammadName(s)
	default:
		var rec struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("want a name or an object with \"name\", not %s", b)
		}
		*n = zammadName(rec.Name)
	}
	return nil
}

// Map turns one trigger webhook delivery into contract events (see the
// type's comment). A body whose "ticket" is absent or not an object (a
// pre-defined Slack or Teams payload, a custom payload) maps to no event.
func (Zammad) Map(_ http.Header, body []byte, l *Labels) ([]Event, error) {
	var p zammadPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.Join(ErrBadPayload, fmt.Errorf("zammad: not a webhook payload: %w", err))
	}
	raw := bytes.TrimSpace(p.Ticket)
	if len(raw) == 0 || (raw[0] != '{' && !bytes.Equal(raw, []byte("null"))) {
		return nil, nil
	}
	var t zammadTicket
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, errors.Join(ErrBadPayload, fmt.Errorf("zammad: ticket: %w", err))
	}
	if t.ID == "" {
		return nil, errors.Join(ErrBadPayload, errors.New("zammad: ticket.id is missing"))
	}
	updated, err := zammadTime("ticket.updated_at", t.UpdatedAt)
	if err != nil {
		return nil, err
	}
	created, err := zammadTime("ticket.created_at", t.CreatedAt)
	if err != nil {
		return nil, err
	}
	a := p.Article
	var articleAt time.Time
	if a.ID != "" {
		if articleAt, err = zammadTime("article.created_at", a.CreatedAt); err != nil {
			return nil, err
		}
	}
	var lastClose time.Time
	if t.LastCloseAt != "" {
		if lastClose, err = zammadTime("ticket.last_close_at", t.LastCloseAt); err != nil {
			return nil, err
		}
	}

	tid := "zammad:" + string(t.ID)
	key := tid + ":" + updated.Format(time.RFC3339Nano)
	isNew := created.Equal(updated)
	if a.ID != "" {
		isNew = zammadFirstArticle(&t, a.ID)
	}
	status := l.Statuses[strings.ToLower(string(t.State))]
	priority := l.Priorities[strings.ToLower(string(t.Priority))]
	team := string(t.Group)

	var out []Event
	if isNew {
		out = append(out, Event{
			ID: tid + ":opened", Type: "ticket.opened", TicketID: tid, OccurredAt: created,
			Channel:  l.Channels[strings.ToLower(t.CreateArticleType)],
			Priority: priority, Team: team,
		})
	}
	reopened := !isNew && status != "" && status != StatusResolved && !lastClose.IsZero()
	if reopened {
		out = append(out, Event{
			ID: tid + ":" + lastClose.Format(time.RFC3339Nano) + ":reopened", Type: "ticket.reopened",
			TicketID: tid, OccurredAt: updated,
		})
	}
	if a.ID != "" && !isNew && !a.Internal && !strings.EqualFold(a.Type, "note") {
		aid := "zammad:article:" + string(a.ID)
		switch strings.ToLower(a.Sender) {
		case "agent":
			out = append(out, Event{
				ID: aid + ":replied", Type: "ticket.replied", TicketID: tid, OccurredAt: articleAt,
				AgentID: zammadAgent(a.CreatedByID),
			})
		case "customer":
			out = append(out, Event{
				ID: aid + ":customer_message", Type: "ticket.customer_message", TicketID: tid, OccurredAt: articleAt,
			})
		}
	}
	switch {
	case status == StatusResolved:
		at, id := lastClose, tid+":"+lastClose.Format(time.RFC3339Nano)+":resolved"
		if at.IsZero() {
			// A state mapped to resolved that Zammad does not count as
			// closed (merged): the snapshot's time is the best there is.
			at, id = updated, key+":resolved"
		}
		out = append(out, Event{
			ID: id, Type: "ticket.resolved", TicketID: tid, OccurredAt: at,
			AgentID: zammadAgent(t.UpdatedByID),
		})
	case status != "" && (!isNew || status != "open"):
		// An opening sets "open" already.
		out = append(out, Event{
			ID: key + ":status", Type: "ticket.status_changed", TicketID: tid, OccurredAt: updated,
			Status: status,
		})
	}
	if !isNew && (priority != "" || team != "") {
		out = append(out, Event{
			ID: key + ":updated", Type: "ticket.updated", TicketID: tid, OccurredAt: updated,
			Priority: priority, Team: team,
		})
	}
	return out, nil
}

// zammadFirstArticle reports whether article id is the ticket's first: the
// lowest of ticket.article_ids, or the only article when the list is
// missing.
func zammadFirstArticle(t *zammadTicket, id jsonText) bool {
	if len(t.ArticleIDs) == 0 {
		return t.ArticleCount == 1
	}
	want, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil {
		return false
	}
	for _, other := range t.ArticleIDs {
		n, err := strconv.ParseInt(string(other), 10, 64)
		if err == nil && n < want {
			return false
		}
	}
	return true
}

// zammadAgent is the agent_id of a Zammad user id. User 1 is Zammad's
// system user (auto-close of "pending close", schedulers): no agent.
func zammadAgent(id jsonText) string {
	if id == "" || id == "1" {
		return ""
	}
	return "zammad:" + string(id)
}

func zammadTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.Join(ErrBadPayload, fmt.Errorf("zammad: %s is missing", field))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.Join(ErrBadPayload, fmt.Errorf("zammad: %s: not an RFC 3339 time: %q", field, s))
	}
	return t.UTC(), nil
}

// Labels returns the default mapping of Zammad's seeded article types,
// priorities and states (db/seeds/ticket_article_types.rb,
// ticket_priorities.rb, ticket_states.rb). Zammad seeds no urgent
// priority and no on-hold state; "4 urgent" covers the common addition,
// and a custom waiting state is mapped to "on_hold" in the configuration.
func (Zammad) Labels() Labels {
	return Labels{
		Channels: map[string]string{
			"email":                     "email",
			"web":                       "web",
			"chat":                      "chat",
			"phone":                     "phone",
			"sms":                       "phone",
			"fax":                       "other",
			"note":                      "other",
			"twitter status":            "social",
			"twitter direct-message":    "social",
			"facebook feed post":        "social",
			"facebook feed comment":     "social",
			"facebook direct-message":   "social",
			"telegram personal-message": "social",
			"whatsapp message":          "social",
		},
		Priorities: map[string]string{
			"1 low":    "low",
			"2 normal": "normal",
			"3 high":   "high",
			"4 urgent": "urgent",
		},
		Statuses: map[string]string{
			"new":              "open",
			"open":             "open",
			"pending reminder": "pending",
			"pending close":    "pending",
			"closed":           StatusResolved,
			"merged":           StatusResolved,
		},
	}
}
