package webhook

import (
	"crypto/hmac"
	"crypto/sha1" // a WebSub signature method; HMAC-SHA1 does not rest on SHA-1's collision resistance
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Jira maps Jira Service Management webhooks: the admin webhooks of Jira
// Cloud (System > WebHooks) with the events jira:issue_created,
// jira:issue_updated and comment_created.
//
// Ticket ids are "jira:" + issue.key. Event ids come from Jira's own ids:
// the issue id for its opening, the changelog id for a status, priority or
// satisfaction change, the comment id for a comment; so a retried
// delivery, and a comment that arrives both as comment_created and as
// jira:issue_updated (issue_commented), map to the same ids.
type Jira struct{}

// Name returns "jira".
func (Jira) Name() string { return "jira" }

// jiraSignatureHeader is the header of a webhook registered with a secret:
// "method=hex(HMAC(secret, body))", the WebSub format; Jira uses sha256.
const jiraSignatureHeader = "X-Hub-Signature"

// jiraHashes are the WebSub signature methods Verify accepts.
var jiraHashes = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// Verify checks X-Hub-Signature, "sha256=" + hex(HMAC-SHA256(secret, body)),
// in constant time. Jira's scheme signs the body only, with no timestamp,
// so there is no staleness to check: a replayed delivery maps to the same
// event ids and is dropped as a duplicate.
func (Jira) Verify(h http.Header, _ url.Values, body, secret []byte, _ time.Time) error {
	if len(secret) == 0 {
		return errors.Join(ErrUnauthorized, errors.New("no jira secret configured"))
	}
	sig := h.Get(jiraSignatureHeader)
	if sig == "" {
		return errors.Join(ErrUnauthorized, errors.New("missing "+jiraSignatureHeader+" header: give the Jira webhook a secret"))
	}
	method, digest, ok := strings.Cut(sig, "=")
	if !ok {
		return errors.Join(ErrUnauthorized, errors.New(jiraSignatureHeader+" must be \"sha256=<hex>\""))
	}
	newHash, ok := jiraHashes[strings.ToLower(method)]
	if !ok {
		return errors.Join(ErrUnauthorized, fmt.Errorf("%s: unsupported method %q (want sha256)", jiraSignatureHeader, jiraTruncate(method, 16)))
	}
	got, err := hex.DecodeString(digest)
	if err != nil {
		return errors.Join(ErrUnauthorized, errors.New(jiraSignatureHeader+": the signature is not hexadecimal"))
	}
	mac := hmac.New(newHash, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.Join(ErrUnauthorized, errors.New(jiraSignatureHeader+" does not match the body"))
	}
	return nil
}

// jiraTruncate cuts s to at most n bytes, for quoting untrusted input in errors.
func jiraTruncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// jiraPayload is the part of a Jira webhook body the mapping reads.
type jiraPayload struct {
	Timestamp          *int64         `json:"timestamp"` // Unix milliseconds, when Jira raised the event
	WebhookEvent       string         `json:"webhookEvent"`
	IssueEventTypeName string         `json:"issue_event_type_name"`
	User               *jiraUser      `json:"user"`
	Issue              *jiraIssue     `json:"issue"`
	Changelog          *jiraChangelog `json:"changelog"`
	Comment            *jiraComment   `json:"comment"`
}

type jiraUser struct {
	AccountID   string `json:"accountId"`
	AccountType string `json:"accountType"` // "atlassian", "app" or "customer"
}

type jiraIssue struct {
	ID     jsonText `json:"id"`
	Key    string   `json:"key"`
	Fields struct {
		Created  string    `json:"created"`
		Priority *jiraName `json:"priority"`
		Project  *struct {
			Key string `json:"key"`
		} `json:"project"`
		Reporter *jiraUser `json:"reporter"`
	} `json:"fields"`
}

type jiraName struct {
	Name string `json:"name"`
}

type jiraChangelog struct {
	ID    jsonText     `json:"id"`
	Items []jiraChange `json:"items"`
}

type jiraChange struct {
	Field      string  `json:"field"`
	FieldID    string  `json:"fieldId"`
	From       *string `json:"from"`
	FromString *string `json:"fromString"`
	To         *string `json:"to"`
	ToString   *string `json:"toString"`
}

type jiraComment struct {
	ID        jsonText  `json:"id"`
	Author    *jiraUser `json:"author"`
	Created   string    `json:"created"`
	JSDPublic *bool     `json:"jsdPublic"`
}

// Map turns a Jira webhook into contract events:
//
//   - jira:issue_created: ticket.opened (priority, team = project key).
//   - jira:issue_updated: per changelog item, status → ticket.status_changed,
//     ticket.resolved or ticket.reopened; priority → ticket.updated;
//     Satisfaction → survey.answered (csat); with issue_event_type_name
//     issue_commented, its comment as below.
//   - comment_created: a public comment (jsdPublic not false) by a
//     customer (accountType "customer", or the issue's reporter) →
//     ticket.customer_message; by an agent (accountType "atlassian") →
//     ticket.replied. Internal notes and app (automation) comments → none.
//
// Every other webhookEvent maps to no event.
func (j Jira) Map(_ http.Header, body []byte, l *Labels) ([]Event, error) {
	var p jiraPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: jira: %w", ErrBadPayload, err)
	}
	if l == nil {
		d := j.Labels()
		l = &d
	}
	switch p.WebhookEvent {
	case "jira:issue_created":
		return jiraOpened(&p, l)
	case "jira:issue_updated":
		return jiraUpdated(&p, l)
	case "comment_created":
		ticket, err := jiraTicket(&p)
		if err != nil {
			return nil, err
		}
		return jiraCommentEvents(&p, ticket)
	}
	return nil, nil
}

// jiraTicket returns the contract ticket id of the payload's issue.
func jiraTicket(p *jiraPayload) (string, error) {
	if p.Issue == nil || strings.TrimSpace(p.Issue.Key) == "" {
		return "", fmt.Errorf("%w: jira %s: missing issue.key", ErrBadPayload, p.WebhookEvent)
	}
	return "jira:" + p.Issue.Key, nil
}

// jiraEventTime returns the payload's top-level timestamp, when Jira
// raised the event.
func jiraEventTime(p *jiraPayload) (time.Time, error) {
	if p.Timestamp == nil || *p.Timestamp <= 0 {
		return time.Time{}, fmt.Errorf("%w: jira %s: missing timestamp", ErrBadPayload, p.WebhookEvent)
	}
	return time.UnixMilli(*p.Timestamp).UTC(), nil
}

// jiraTimeLayouts are the forms of Jira's date-time fields: the REST API
// writes "2026-11-23T08:00:00.000+0000".
var jiraTimeLayouts = []string{
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
}

// jiraEntityTime parses an entity's own time (issue or comment created),
// falling back to the event timestamp when the entity has none.
func jiraEntityTime(p *jiraPayload, field, v string) (time.Time, error) {
	if v == "" {
		return jiraEventTime(p)
	}
	for _, layout := range jiraTimeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: jira %s: %s: %q is not a date-time", ErrBadPayload, p.WebhookEvent, field, jiraTruncate(v, 40))
}

func jiraOpened(p *jiraPayload, l *Labels) ([]Event, error) {
	ticket, err := jiraTicket(p)
	if err != nil {
		return nil, err
	}
	at, err := jiraEntityTime(p, "issue.fields.created", p.Issue.Fields.Created)
	if err != nil {
		return nil, err
	}
	id := string(p.Issue.ID)
	if id == "" {
		id = p.Issue.Key
	}
	e := Event{ID: "jira:issue:" + id + ":opened", Type: "ticket.opened", TicketID: ticket, OccurredAt: at}
	if pr := p.Issue.Fields.Priority; pr != nil {
		e.Priority = jiraLookup(l.Priorities, pr.Name)
	}
	if pj := p.Issue.Fields.Project; pj != nil {
		e.Team = pj.Key
	}
	return []Event{e}, nil
}

func jiraUpdated(p *jiraPayload, l *Labels) ([]Event, error) {
	ticket, err := jiraTicket(p)
	if err != nil {
		return nil, err
	}
	var out []Event
	if p.Changelog != nil && len(p.Changelog.Items) > 0 {
		evs, err := jiraChanges(p, ticket, l)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	if p.IssueEventTypeName == "issue_commented" && p.Comment != nil {
		evs, err := jiraCommentEvents(p, ticket)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// jiraChanges maps the changelog items of a jira:issue_updated.
func jiraChanges(p *jiraPayload, ticket string, l *Labels) ([]Event, error) {
	cl := string(p.Changelog.ID)
	if cl == "" {
		return nil, fmt.Errorf("%w: jira %s: changelog without id", ErrBadPayload, p.WebhookEvent)
	}
	at, err := jiraEventTime(p)
	if err != nil {
		return nil, err
	}
	base := "jira:changelog:" + cl + ":"
	var out []Event
	update := Event{ID: base + "updated", Type: "ticket.updated", TicketID: ticket, OccurredAt: at}
	for _, it := range p.Changelog.Items {
		switch jiraField(it) {
		case "status":
			out = append(out, jiraStatusEvents(p, it, base, ticket, at, l)...)
		case "priority":
			update.Priority = jiraLookup(l.Priorities, jiraDeref(it.ToString))
		case "satisfaction":
			if score, ok := jiraRating(it); ok {
				out = append(out, Event{ID: base + "csat", Type: "survey.answered", TicketID: ticket, OccurredAt: at,
					Survey: &Survey{Kind: "csat", Score: score}})
			}
		}
	}
	if update.Priority != "" {
		out = append(out, update)
	}
	return out, nil
}

// jiraField names a changelog item's field: its fieldId for system
// fields, else its field name, lower-cased.
func jiraField(it jiraChange) string {
	if it.FieldID == "status" || it.FieldID == "priority" {
		return it.FieldID
	}
	return strings.ToLower(strings.TrimSpace(it.Field))
}

// jiraStatusEvents maps a status transition through Labels.Statuses.
func jiraStatusEvents(p *jiraPayload, it jiraChange, base, ticket string, at time.Time, l *Labels) []Event {
	from := jiraLookup(l.Statuses, jiraDeref(it.FromString))
	to := jiraLookup(l.Statuses, jiraDeref(it.ToString))
	switch {
	case to == "":
		return nil
	case to == StatusResolved:
		if from == StatusResolved { // Resolved → Closed: still the same resolution
			return nil
		}
		e := Event{ID: base + "resolved", Type: "ticket.resolved", TicketID: ticket, OccurredAt: at}
		if p.User != nil && p.User.AccountType != "customer" && p.User.AccountType != "app" {
			e.AgentID = p.User.AccountID
		}
		return []Event{e}
	case from == StatusResolved:
		out := []Event{{ID: base + "reopened", Type: "ticket.reopened", TicketID: ticket, OccurredAt: at}}
		if to != "open" { // a reopening sets open; say where it really went
			out = append(out, Event{ID: base + "status", Type: "ticket.status_changed", TicketID: ticket, OccurredAt: at, Status: to})
		}
		return out
	}
	return []Event{{ID: base + "status", Type: "ticket.status_changed", TicketID: ticket, OccurredAt: at, Status: to}}
}

// jiraRating reads a Satisfaction change: JSM rates 1 to 5 stars, the
// contract's csat scale.
func jiraRating(it jiraChange) (int, bool) {
	for _, v := range []*string{it.To, it.ToString} {
		if n, err := strconv.Atoi(strings.TrimSpace(jiraDeref(v))); err == nil && n >= 1 && n <= 5 {
			return n, true
		}
	}
	return 0, false
}

// jiraCommentEvents maps the payload's comment.
func jiraCommentEvents(p *jiraPayload, ticket string) ([]Event, error) {
	c := p.Comment
	if c == nil || c.ID == "" {
		return nil, fmt.Errorf("%w: jira %s: missing comment.id", ErrBadPayload, p.WebhookEvent)
	}
	at, err := jiraEntityTime(p, "comment.created", c.Created)
	if err != nil {
		return nil, err
	}
	if c.JSDPublic != nil && !*c.JSDPublic { // an internal note
		return nil, nil
	}
	base := "jira:comment:" + string(c.ID) + ":"
	var author jiraUser
	if c.Author != nil {
		author = *c.Author
	}
	var reporter string
	if r := p.Issue.Fields.Reporter; r != nil {
		reporter = r.AccountID
	}
	switch {
	case author.AccountType == "customer" || (author.AccountID != "" && author.AccountID == reporter):
		return []Event{{ID: base + "customer", Type: "ticket.customer_message", TicketID: ticket, OccurredAt: at}}, nil
	case author.AccountType == "app":
		return nil, nil // an automation rule or app, not an agent's reply
	}
	return []Event{{ID: base + "reply", Type: "ticket.replied", TicketID: ticket, OccurredAt: at, AgentID: author.AccountID}}, nil
}

// jiraLookup maps a helpdesk value through m, lower-cased.
func jiraLookup(m map[string]string, v string) string {
	return m[strings.ToLower(strings.TrimSpace(v))]
}

func jiraDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Labels returns the default table: Jira's default priorities (and the
// older Blocker…Trivial scheme), and the statuses of JSM's service
// project templates. Jira webhooks carry no request channel, so there is
// no channel table by default.
func (Jira) Labels() Labels {
	return Labels{
		Channels: map[string]string{},
		Priorities: map[string]string{
			"highest":  "urgent",
			"high":     "high",
			"medium":   "normal",
			"low":      "low",
			"lowest":   "low",
			"blocker":  "urgent",
			"critical": "urgent",
			"major":    "high",
			"minor":    "low",
			"trivial":  "low",
		},
		Statuses: map[string]string{
			"open":                 "open",
			"to do":                "open",
			"waiting for support":  "open",
			"in progress":          "open",
			"work in progress":     "open",
			"reopened":             "open",
			"waiting for customer": "pending",
			"pending":              "on_hold",
			"escalated":            "on_hold",
			"waiting for approval": "on_hold",
			"resolved":             StatusResolved,
			"closed":               StatusResolved,
			"done":                 StatusResolved,
			"canceled":             StatusResolved,
			"cancelled":            StatusResolved,
			"declined":             StatusResolved,
		},
	}
}
