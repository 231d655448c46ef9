package webhook

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Freshdesk cannot sign its deliveries: the rule sends a shared token in a
// custom header, so these cases stand where other sources test signatures.
func TestFreshdeskVerify(t *testing.T) {
	secret := []byte("s3cr3t-freshdesk-token")
	body := []byte(`{"event":"created","ticket_id":"1042"}`)
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		header  http.Header
		query   url.Values
		body    []byte
		wantErr string // "" when accepted
	}{
		{name: "bearer header", header: http.Header{"Authorization": {"Bearer s3cr3t-freshdesk-token"}}, body: body},
		{name: "token in the URL", query: url.Values{"token": {"s3cr3t-freshdesk-token"}}, body: body},
		{
			// The token does not cover the body: what it proves is that the
			// sender knows the secret, nothing about the content.
			name: "other body, same token", header: http.Header{"Authorization": {"Bearer s3cr3t-freshdesk-token"}},
			body: []byte(`{"event":"csat","ticket_id":"1042","rating":"-103"}`),
		},
		{name: "wrong secret", header: http.Header{"Authorization": {"Bearer not-the-token"}}, body: body, wantErr: "wrong token"},
		{name: "wrong token in the URL", query: url.Values{"token": {"not-the-token"}}, body: body, wantErr: "wrong token"},
		{name: "missing header", header: http.Header{}, body: body, wantErr: "no token"},
		{name: "bad format", header: http.Header{"Authorization": {"Basic czNjcjN0"}}, body: body, wantErr: "Bearer <token>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Freshdesk{}.Verify(tc.header, tc.query, tc.body, secret, now)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthorized)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), string(secret))
		})
	}
}

func TestFreshdeskBadPayload(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"not JSON", `event=created&ticket_id=1042`, "not the JSON body template"},
		{"truncated JSON", `{"event":"created","ticket_id":"1042"`, "not the JSON body template"},
		{"missing ticket id", `{"event":"created","created_at":"2026-11-23 08:00:00 UTC"}`, "no ticket_id"},
		{"empty ticket id", `{"event":"created","ticket_id":"","created_at":"2026-11-23 08:00:00 UTC"}`, "no ticket_id"},
		{"unrendered placeholder", `{"event":"created","ticket_id":"{{ticket.id}}","created_at":"2026-11-23 08:00:00 UTC"}`, "unrendered placeholder"},
		{"missing event", `{"ticket_id":"1042","created_at":"2026-11-23 08:00:00 UTC"}`, "no \"event\" field"},
		{"missing time", `{"event":"created","ticket_id":"1042"}`, "created_at: missing"},
		{"missing update time", `{"event":"agent_reply","ticket_id":"1042","created_at":"2026-11-23 08:00:00 UTC"}`, "updated_at: missing"},
		{"time without zone", `{"event":"customer_reply","ticket_id":"1042","updated_at":"2026-11-23 08:20:00"}`, "updated_at:"},
		{"time as prose", `{"event":"customer_reply","ticket_id":"1042","updated_at":"November 23 2026 at 08:20 AM UTC"}`, "updated_at:"},
		{"bad rating", `{"event":"csat","ticket_id":"1042","updated_at":"2026-11-23 10:02:00 UTC","rating":"7"}`, "rating:"},
		{"object for a string", `{"event":"created","ticket_id":{"id":1042},"created_at":"2026-11-23 08:00:00 UTC"}`, "not the JSON body template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireBadPayload(t, Freshdesk{}, tc.body, tc.reason)
		})
	}
}

// A rule that runs again on the same change posts the same rendered body:
// it must map to the same ids, whatever else in the body changed.
func TestFreshdeskRedeliverySameIDs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "freshdesk", "*.json"))
	require.NoError(t, err)
	for _, p := range files {
		if strings.HasSuffix(p, ".events.json") {
			continue
		}
		body, err := os.ReadFile(p)
		require.NoError(t, err)
		l := Freshdesk{}.Labels()
		first, err := Freshdesk{}.Map(http.Header{}, body, &l)
		require.NoError(t, err)
		again, err := Freshdesk{}.Map(http.Header{}, body, &l)
		require.NoError(t, err)
		require.Equal(t, first, again, p)

		// The same change with fields the mapping ignores edited (an agent
		// re-tagged the ticket before the retry).
		var m map[string]any
		require.NoError(t, json.Unmarshal(body, &m))
		m["tags"] = "billing, refund, vip"
		m["subject"] = "Re: " + m["subject"].(string)
		edited, err := json.Marshal(m)
		require.NoError(t, err)
		retried, err := Freshdesk{}.Map(http.Header{}, edited, &l)
		require.NoError(t, err)
		require.Equal(t, ids(first), ids(retried), p)
	}
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestFreshdeskMapCases(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		body string
		want []Event
	}{
		{
			name: "status labels are looked up lower-cased",
			body: `{"event":"Status_Changed","ticket_id":"7","status":"WAITING ON THIRD PARTY","status_changed_at":"2026-11-23T09:00:00Z"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:status", Type: "ticket.status_changed", TicketID: "freshdesk:7", OccurredAt: at, Status: "on_hold"}},
		},
		{
			name: "status time falls back to updated_at",
			body: `{"event":"status_changed","ticket_id":"7","status":"Pending","updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:status", Type: "ticket.status_changed", TicketID: "freshdesk:7", OccurredAt: at, Status: "pending"}},
		},
		{
			name: "reopened straight into pending",
			body: `{"event":"status_changed","ticket_id":"7","status":"Pending","previous_status":"Closed","status_changed_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{
				{ID: "freshdesk:7:1795424400:reopened", Type: "ticket.reopened", TicketID: "freshdesk:7", OccurredAt: at},
				{ID: "freshdesk:7:1795424400:status", Type: "ticket.status_changed", TicketID: "freshdesk:7", OccurredAt: at, Status: "pending"},
			},
		},
		{
			name: "closed without a previous status resolves",
			body: `{"event":"status_changed","ticket_id":"7","status":"Closed","agent_email":"","status_changed_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:resolved", Type: "ticket.resolved", TicketID: "freshdesk:7", OccurredAt: at}},
		},
		{
			name: "a custom status missing from the table",
			body: `{"event":"status_changed","ticket_id":"7","status":"Awaiting refund","status_changed_at":"2026-11-23 09:00:00 UTC"}`,
		},
		{
			name: "created as pending",
			body: `{"event":"created","ticket_id":"7","status":"Pending","priority":"Medium","source":"Phone","group":"","created_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{
				{ID: "freshdesk:7:1795424400:opened", Type: "ticket.opened", TicketID: "freshdesk:7", OccurredAt: at, Channel: "phone", Priority: "normal"},
				{ID: "freshdesk:7:1795424400:status", Type: "ticket.status_changed", TicketID: "freshdesk:7", OccurredAt: at, Status: "pending"},
			},
		},
		{
			name: "created from a source missing from the table",
			body: `{"event":"created","ticket_id":7,"status":"Open","priority":"Low","source":"Carrier pigeon","created_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:opened", Type: "ticket.opened", TicketID: "freshdesk:7", OccurredAt: at, Priority: "low"}},
		},
		{
			name: "a private reply never counts",
			body: `{"event":"agent_reply","ticket_id":"7","private":"true","agent_email":"a@acme.example","updated_at":"2026-11-23 09:00:00 UTC"}`,
		},
		{
			name: "an unassigned ticket's reply has no agent",
			body: `{"event":"agent_reply","ticket_id":"7","agent_email":"","updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:replied", Type: "ticket.replied", TicketID: "freshdesk:7", OccurredAt: at}},
		},
		{
			name: "group removed",
			body: `{"event":"group_changed","ticket_id":"7","group":"","updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:group", Type: "ticket.updated", TicketID: "freshdesk:7", OccurredAt: at, Team: "unknown"}},
		},
		{
			name: "source changed",
			body: `{"event":"source_changed","ticket_id":"7","source":"Twitter","updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:source", Type: "ticket.updated", TicketID: "freshdesk:7", OccurredAt: at, Channel: "social"}},
		},
		{
			name: "a priority missing from the table",
			body: `{"event":"priority_changed","ticket_id":"7","priority":"Critical","updated_at":"2026-11-23 09:00:00 UTC"}`,
		},
		{
			name: "classic survey unhappy",
			body: `{"event":"csat","ticket_id":"7","rating":"Unhappy","updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:csat", Type: "survey.answered", TicketID: "freshdesk:7", OccurredAt: at, Survey: &Survey{Kind: "csat", Score: 2}}},
		},
		{
			name: "seven-point survey as a number",
			body: `{"event":"csat","ticket_id":"7","rating":-103,"updated_at":"2026-11-23 09:00:00 UTC"}`,
			want: []Event{{ID: "freshdesk:7:1795424400:csat", Type: "survey.answered", TicketID: "freshdesk:7", OccurredAt: at, Survey: &Survey{Kind: "csat", Score: 1}}},
		},
		{
			name: "an unknown event",
			body: `{"event":"ticket_deleted","ticket_id":"7"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Freshdesk{}.Labels()
			got, err := Freshdesk{}.Map(http.Header{}, []byte(tc.body), &l)
			require.NoError(t, err)
			require.Equal(t, jsonOf(t, tc.want), jsonOf(t, got))
		})
	}
}

// An operator's table replaces the defaults: keys are Freshdesk's values
// lower-cased.
func TestFreshdeskCustomLabels(t *testing.T) {
	l := Labels{
		Channels:   map[string]string{"email": "mail"},
		Priorities: map[string]string{"medium": "high"},
		Statuses:   map[string]string{"awaiting refund": "on_hold"},
	}
	got, err := Freshdesk{}.Map(http.Header{}, []byte(`{"event":"created","ticket_id":"8","status":"Awaiting Refund","priority":"Medium","source":"Email","group":"Billing","created_at":"2026-11-23 09:00:00 UTC"}`), &l)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "mail", got[0].Channel)
	require.Equal(t, "high", got[0].Priority)
	require.Equal(t, "on_hold", got[1].Status)
}

func FuzzFreshdeskMap(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "freshdesk", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".events.json") {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"event":"csat","ticket_id":1,"updated_at":"2026-11-23T09:00:00Z","rating":"5"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		l := Freshdesk{}.Labels()
		evs, err := Freshdesk{}.Map(http.Header{}, body, &l)
		if err != nil {
			require.ErrorIs(t, err, ErrBadPayload)
			return
		}
		for _, e := range evs {
			require.NotEmpty(t, e.ID)
			require.Equal(t, time.UTC, e.OccurredAt.Location())
		}
	})
}
