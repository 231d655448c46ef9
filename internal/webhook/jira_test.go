package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// jiraSign computes X-Hub-Signature the way Jira documents it:
// method + "=" + hex(HMAC(secret, body)).
func jiraSign(method string, newHash func() hash.Hash, secret, body []byte) string {
	m := hmac.New(newHash, secret)
	m.Write(body)
	return method + "=" + hex.EncodeToString(m.Sum(nil))
}

func TestJiraVerify(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body, err := os.ReadFile(filepath.Join("testdata", "jira", "issue_created.json"))
	require.NoError(t, err)
	now := time.Date(2026, 11, 23, 8, 0, 5, 0, time.UTC)
	valid := jiraSign("sha256", sha256.New, secret, body)

	cases := []struct {
		name    string
		header  string // "" leaves X-Hub-Signature out
		body    []byte
		secret  []byte
		wantErr string // "" means valid
	}{
		{name: "valid", header: valid, body: body, secret: secret},
		{name: "valid, method in upper case", header: "SHA256=" + strings.TrimPrefix(valid, "sha256="), body: body, secret: secret},
		{name: "valid sha512", header: jiraSign("sha512", sha512.New, secret, body), body: body, secret: secret},
		{name: "wrong secret", header: jiraSign("sha256", sha256.New, []byte("another secret"), body), body: body, secret: secret, wantErr: "does not match"},
		{name: "tampered body", header: valid, body: []byte(strings.Replace(string(body), `"High"`, `"Lowest"`, 1)), secret: secret, wantErr: "does not match"},
		{name: "missing header", body: body, secret: secret, wantErr: "missing X-Hub-Signature"},
		{name: "no method", header: strings.TrimPrefix(valid, "sha256="), body: body, secret: secret, wantErr: "must be"},
		{name: "unsupported method", header: "md5=" + strings.TrimPrefix(valid, "sha256="), body: body, secret: secret, wantErr: "unsupported method"},
		{name: "not hex", header: "sha256=zz" + valid[len("sha256=zz"):], body: body, secret: secret, wantErr: "not hexadecimal"},
		{name: "truncated signature", header: valid[:len(valid)-2], body: body, secret: secret, wantErr: "does not match"},
		{name: "no secret configured", header: valid, body: body, wantErr: "no jira secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("X-Hub-Signature", tc.header)
			}
			err := Jira{}.Verify(h, nil, tc.body, tc.secret, now)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthorized)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), string(secret))
			require.NotContains(t, err.Error(), strings.TrimPrefix(valid, "sha256="), "the expected signature must not leak")
		})
	}
}

// Jira signs the body only: there is no timestamp to go stale, so a
// delivery retried hours later still verifies (and maps to the same ids).
func TestJiraVerifyHasNoTimestamp(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"timestamp":1795420801234,"webhookEvent":"jira:issue_created"}`)
	h := http.Header{"X-Hub-Signature": {jiraSign("sha256", sha256.New, secret, body)}}
	require.NoError(t, Jira{}.Verify(h, nil, body, secret, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestJiraMapBadPayload(t *testing.T) {
	cases := map[string]string{
		"not JSON":                 `webhookEvent=jira:issue_created`,
		"truncated JSON":           `{"webhookEvent":"jira:issue_created","issue":{"key":"IT-1"`,
		"JSON array":               `[{"webhookEvent":"jira:issue_created"}]`,
		"created without issue":    `{"timestamp":1795420801234,"webhookEvent":"jira:issue_created"}`,
		"created without key":      `{"timestamp":1795420801234,"webhookEvent":"jira:issue_created","issue":{"id":"10042","fields":{"created":"2026-11-23T08:00:00.000+0000"}}}`,
		"created without any time": `{"webhookEvent":"jira:issue_created","issue":{"id":"10042","key":"IT-1042","fields":{}}}`,
		"created with a bad time":  `{"timestamp":1795420801234,"webhookEvent":"jira:issue_created","issue":{"id":"10042","key":"IT-1042","fields":{"created":"yesterday"}}}`,
		"comment without key":      `{"timestamp":1795421550412,"webhookEvent":"comment_created","comment":{"id":"10500","created":"2026-11-23T08:12:30.000+0000"}}`,
		"comment without id":       `{"timestamp":1795421550412,"webhookEvent":"comment_created","issue":{"key":"IT-1042"},"comment":{"created":"2026-11-23T08:12:30.000+0000"}}`,
		"update without timestamp": `{"webhookEvent":"jira:issue_updated","issue":{"key":"IT-1042"},"changelog":{"id":"10124","items":[{"field":"status","fromString":"In Progress","toString":"Waiting for customer"}]}}`,
		"update without key":       `{"timestamp":1795422665000,"webhookEvent":"jira:issue_updated","issue":{"id":"10042"},"changelog":{"id":"10124","items":[]}}`,
		"changelog without id":     `{"timestamp":1795422665000,"webhookEvent":"jira:issue_updated","issue":{"key":"IT-1042"},"changelog":{"items":[{"field":"status","toString":"Resolved"}]}}`,
		"timestamp not a number":   `{"timestamp":"soon","webhookEvent":"jira:issue_updated","issue":{"key":"IT-1042"}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			labels := Jira{}.Labels()
			evs, err := Jira{}.Map(http.Header{}, []byte(body), &labels)
			require.ErrorIs(t, err, ErrBadPayload)
			require.NotEqual(t, ErrBadPayload.Error(), err.Error(), "the error says why")
			require.Empty(t, evs)
		})
	}
}

// An unknown kind, or a payload without webhookEvent (a JSM automation
// "Send web request"), maps to nothing and is no error, even without an
// issue.
func TestJiraMapUnusedKinds(t *testing.T) {
	for _, body := range []string{
		`{"timestamp":1795423500000,"webhookEvent":"sprint_started","sprint":{"id":7}}`,
		`{"timestamp":1795423500000,"webhookEvent":"jira:issue_deleted","issue":{"id":"10042","key":"IT-1042"}}`,
		`{"timestamp":1795423500000,"webhookEvent":"comment_updated","issue":{"key":"IT-1042"},"comment":{"id":"10500"}}`,
		`{"issue":{"key":"IT-1042"},"timestamp":1795423500000}`,
		`{}`,
	} {
		evs, err := Jira{}.Map(http.Header{}, []byte(body), nil)
		require.NoError(t, err, body)
		require.Empty(t, evs, body)
	}
}

// A redelivery (Jira retries with X-Atlassian-Webhook-Retry) maps to the
// same events, and a comment delivered both as comment_created and as
// jira:issue_updated (issue_commented) to the same ids, so the second is
// a duplicate.
func TestJiraRedeliverySameIDs(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "jira", name))
		require.NoError(t, err)
		return b
	}
	labels := Jira{}.Labels()
	for _, name := range []string{"issue_created.json", "status_reopened_escalated.json", "comment_customer.json", "satisfaction.json"} {
		body := read(name)
		first, err := Jira{}.Map(http.Header{"X-Atlassian-Webhook-Identifier": {"1795420801234-7f3a"}}, body, &labels)
		require.NoError(t, err)
		require.NotEmpty(t, first, name)
		again, err := Jira{}.Map(http.Header{"X-Atlassian-Webhook-Identifier": {"1795420801234-7f3a"}, "X-Atlassian-Webhook-Retry": {"2"}}, body, &labels)
		require.NoError(t, err)
		require.Equal(t, first, again, name)
	}

	viaComment, err := Jira{}.Map(http.Header{}, read("comment_agent_reply.json"), &labels)
	require.NoError(t, err)
	viaIssue, err := Jira{}.Map(http.Header{}, read("issue_commented.json"), &labels)
	require.NoError(t, err)
	require.Len(t, viaComment, 1)
	require.Equal(t, viaComment, viaIssue)
}

// Values are lower-cased before the lookup, and a configured table
// replaces the default one.
func TestJiraLabelsLookup(t *testing.T) {
	body := `{"timestamp":1795422665000,"webhookEvent":"jira:issue_updated","issue":{"key":"OPS-7"},
	  "changelog":{"id":"20001","items":[
	    {"field":"status","fieldId":"status","fromString":"TRIAGE","toString":"Awaiting Vendor"},
	    {"field":"priority","fieldId":"priority","fromString":"P3","toString":"P1"}]}}`
	labels := Labels{
		Priorities: map[string]string{"p1": "urgent", "p3": "normal"},
		Statuses:   map[string]string{"triage": "open", "awaiting vendor": "on_hold"},
	}
	evs, err := Jira{}.Map(http.Header{}, []byte(body), &labels)
	require.NoError(t, err)
	at := time.Date(2026, 11, 23, 8, 31, 5, 0, time.UTC)
	require.Equal(t, []Event{
		{ID: "jira:changelog:20001:status", Type: "ticket.status_changed", TicketID: "jira:OPS-7", OccurredAt: at, Status: "on_hold"},
		{ID: "jira:changelog:20001:updated", Type: "ticket.updated", TicketID: "jira:OPS-7", OccurredAt: at, Priority: "urgent"},
	}, evs)

	// A status or priority the table does not know is ignored.
	evs, err = Jira{}.Map(http.Header{}, []byte(body), &Labels{})
	require.NoError(t, err)
	require.Empty(t, evs)
}

// Every default label maps to a value the contract knows.
func TestJiraDefaultLabels(t *testing.T) {
	l := Jira{}.Labels()
	for k, v := range l.Priorities {
		require.Equal(t, strings.ToLower(k), k)
		require.Contains(t, []string{"low", "normal", "high", "urgent"}, v, k)
	}
	for k, v := range l.Statuses {
		require.Equal(t, strings.ToLower(k), k)
		require.Contains(t, []string{"open", "pending", "on_hold", StatusResolved}, v, k)
	}
	for _, name := range []string{"waiting for support", "in progress", "waiting for customer", "pending", "escalated", "resolved", "closed", "done"} {
		require.Contains(t, l.Statuses, name)
	}
}

func FuzzJiraMap(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "jira", "*.json"))
	require.NoError(f, err)
	for _, p := range paths {
		if strings.HasSuffix(p, ".events.json") {
			continue
		}
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		labels := Jira{}.Labels()
		evs, err := Jira{}.Map(http.Header{}, body, &labels)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		for _, e := range evs {
			if e.ID == "" || e.Type == "" || e.TicketID == "" {
				t.Fatalf("incomplete event %+v", e)
			}
		}
	})
}
