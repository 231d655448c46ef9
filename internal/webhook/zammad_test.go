package webhook

import (
	"crypto/hmac"
	"crypto/sha1" // Zammad signs with HMAC-SHA1.
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func zammadSign(secret, body []byte) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestZammadVerify(t *testing.T) {
	secret := []byte("zammad-signature-token")
	body, err := os.ReadFile(filepath.Join("testdata", "zammad", "agent_reply.json"))
	require.NoError(t, err)
	now := time.Date(2026, 3, 2, 8, 15, 0, 0, time.UTC)
	header := func(sig string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("X-Hub-Signature", sig)
		}
		return h
	}
	tampered := []byte(strings.Replace(string(body), `"3 high"`, `"1 low"`, 1))
	for _, tc := range []struct {
		name    string
		h       http.Header
		body    []byte
		secret  []byte
		wantErr string // "" for success
	}{
		{"valid", header(zammadSign(secret, body)), body, secret, ""},
		{"valid, upper-case hex", header("sha1=" + strings.ToUpper(zammadSign(secret, body)[5:])), body, secret, ""},
		{"wrong secret", header(zammadSign([]byte("another token"), body)), body, secret, "does not match"},
		{"tampered body", header(zammadSign(secret, body)), tampered, secret, "does not match"},
		{"missing header", header(""), body, secret, "missing X-Hub-Signature"},
		{"sha256 prefix", header("sha256=" + zammadSign(secret, body)[5:]), body, secret, "bad X-Hub-Signature"},
		{"not hex", header("sha1=zz"), body, secret, "bad X-Hub-Signature"},
		{"truncated", header(zammadSign(secret, body)[:20]), body, secret, "bad X-Hub-Signature"},
		{"no secret configured", header(zammadSign(secret, body)), body, nil, "no signature token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Zammad{}.Verify(tc.h, nil, tc.body, tc.secret, now)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthorized)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), string(secret))
			require.NotContains(t, err.Error(), zammadSign(secret, tc.body)[5:])
		})
	}
}

// Zammad's signature has no timestamp: an old delivery replayed verifies,
// and maps to the ids it mapped to the first time (TestZammadRedelivery).
func TestZammadVerifyHasNoTimestamp(t *testing.T) {
	secret := []byte("zammad-signature-token")
	body := []byte(`{"ticket":{"id":1},"article":{}}`)
	h := http.Header{"X-Hub-Signature": {zammadSign(secret, body)}}
	require.NoError(t, Zammad{}.Verify(h, nil, body, secret, time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestZammadBadPayload(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `ticket=4711`, "not a webhook payload"},
		{"truncated JSON", `{"ticket": {"id": 4711, "updated_at": "2026-03-02T08:00:00Z"`, "not a webhook payload"},
		{"array", `[{"ticket": {"id": 4711}}]`, "not a webhook payload"},
		{"missing ticket id", `{"ticket": {"number": "34711", "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T08:00:00Z"}, "article": {}}`, "ticket.id is missing"},
		{"null ticket", `{"ticket": null, "article": {}}`, "ticket.id is missing"},
		{"missing updated_at", `{"ticket": {"id": 4711, "created_at": "2026-03-02T08:00:00Z"}, "article": {}}`, "ticket.updated_at is missing"},
		{"bad created_at", `{"ticket": {"id": 4711, "created_at": "yesterday", "updated_at": "2026-03-02T08:00:00Z"}, "article": {}}`, "ticket.created_at"},
		{"article without time", `{"ticket": {"id": 4711, "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T09:00:00Z"}, "article": {"id": 9, "sender": "Agent"}}`, "article.created_at is missing"},
		{"id of the wrong type", `{"ticket": {"id": true, "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T08:00:00Z"}}`, "ticket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireBadPayload(t, Zammad{}, tc.body, tc.want)
		})
	}
}

// A payload without a ticket object (a custom or pre-defined payload) is
// not ours: no events, no error.
func TestZammadNotATicketPayload(t *testing.T) {
	for _, body := range []string{
		`{}`,
		`{"ticket": "Espresso machine leaks", "message": "Updated by Emma Taylor"}`,
	} {
		l := Zammad{}.Labels()
		evs, err := Zammad{}.Map(http.Header{}, []byte(body), &l)
		require.NoError(t, err, body)
		require.Empty(t, evs, body)
	}
}

// A redelivery (Zammad retries a failed delivery up to four times, with
// the same X-Zammad-Delivery) maps to identical ids, whatever its headers.
func TestZammadRedelivery(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "zammad", "*.json"))
	require.NoError(t, err)
	for _, p := range paths {
		if strings.HasSuffix(p, ".events.json") {
			continue
		}
		body, err := os.ReadFile(p)
		require.NoError(t, err)
		l := Zammad{}.Labels()
		first, err := Zammad{}.Map(http.Header{"X-Zammad-Delivery": {"a"}}, body, &l)
		require.NoError(t, err)
		again, err := Zammad{}.Map(http.Header{"X-Zammad-Delivery": {"b"}}, body, &l)
		require.NoError(t, err)
		require.Equal(t, first, again, p)
		seen := map[string]bool{}
		for _, e := range first {
			require.False(t, seen[e.ID], "%s: id %s twice", p, e.ID)
			seen[e.ID] = true
		}
	}
}

// Later snapshots of a closed, or closed and reopened, ticket repeat the
// ids of the closing and the reopening, so each counts once.
func TestZammadClosingCountsOnce(t *testing.T) {
	l := Zammad{}.Labels()
	ids := func(body string) map[string]string {
		evs, err := Zammad{}.Map(http.Header{}, []byte(body), &l)
		require.NoError(t, err)
		m := map[string]string{}
		for _, e := range evs {
			m[e.Type] = e.ID
		}
		return m
	}
	closed := `{"ticket": {"id": 7, "state": "closed", "created_at": "2026-03-02T08:00:00Z", "last_close_at": "2026-03-02T09:00:00Z", "updated_at": "%s"}, "article": {}}`
	a := ids(strings.Replace(closed, "%s", "2026-03-02T09:00:00.020Z", 1))
	b := ids(strings.Replace(closed, "%s", "2026-03-02T12:00:00Z", 1)) // e.g. a tag added later
	require.Equal(t, "zammad:7:2026-03-02T09:00:00Z:resolved", a["ticket.resolved"])
	require.Equal(t, a["ticket.resolved"], b["ticket.resolved"])

	open := `{"ticket": {"id": 7, "state": "open", "created_at": "2026-03-02T08:00:00Z", "last_close_at": "2026-03-02T09:00:00Z", "updated_at": "%s"}, "article": {}}`
	c := ids(strings.Replace(open, "%s", "2026-03-03T08:00:00Z", 1))
	d := ids(strings.Replace(open, "%s", "2026-03-03T10:00:00Z", 1))
	require.Equal(t, "zammad:7:2026-03-02T09:00:00Z:reopened", c["ticket.reopened"])
	require.Equal(t, c["ticket.reopened"], d["ticket.reopened"])
	require.NotEqual(t, c["ticket.status_changed"], d["ticket.status_changed"])
}

// Labels are looked up lower-cased, and a value missing from the table is
// dropped (priority, channel) or ignored (state).
func TestZammadLabels(t *testing.T) {
	l := Labels{
		Channels:   map[string]string{"email": "email"},
		Priorities: map[string]string{"3 high": "urgent"},
		Statuses:   map[string]string{"waiting for supplier": "on_hold"},
	}
	body := `{"ticket": {"id": 9, "state": "Waiting for Supplier", "priority": "3 HIGH", "group": "Billing", "create_article_type": "EMAIL", "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T08:00:00Z"}, "article": {}}`
	evs, err := Zammad{}.Map(http.Header{}, []byte(body), &l)
	require.NoError(t, err)
	require.Equal(t, []Event{
		{ID: "zammad:9:opened", Type: "ticket.opened", TicketID: "zammad:9", OccurredAt: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), Channel: "email", Priority: "urgent", Team: "Billing"},
		{ID: "zammad:9:2026-03-02T08:00:00Z:status", Type: "ticket.status_changed", TicketID: "zammad:9", OccurredAt: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), Status: "on_hold"},
	}, evs)

	body = `{"ticket": {"id": 9, "state": "removed", "priority": "9 whatever", "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T09:00:00Z"}, "article": {}}`
	evs, err = Zammad{}.Map(http.Header{}, []byte(body), &l)
	require.NoError(t, err)
	require.Empty(t, evs)
}

func TestZammadSystemArticleAndNoteAreNotReplies(t *testing.T) {
	l := Zammad{}.Labels()
	for _, art := range []string{
		`{"id": 20, "created_at": "2026-03-02T09:00:00Z", "sender": "System", "type": "email", "internal": false, "created_by_id": 1}`,
		`{"id": 20, "created_at": "2026-03-02T09:00:00Z", "sender": "Agent", "type": "note", "internal": false, "created_by_id": 5}`,
	} {
		body := `{"ticket": {"id": 9, "article_ids": [19, 20], "created_at": "2026-03-02T08:00:00Z", "updated_at": "2026-03-02T09:00:00Z"}, "article": ` + art + `}`
		evs, err := Zammad{}.Map(http.Header{}, []byte(body), &l)
		require.NoError(t, err)
		require.Empty(t, evs, art)
	}
}

func TestZammadSourceIsListed(t *testing.T) {
	var found bool
	for _, s := range All() {
		if s.Name() == "zammad" {
			_, found = s.(Zammad)
		}
	}
	require.True(t, found)
}
