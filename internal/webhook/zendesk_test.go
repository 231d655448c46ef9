package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// zendeskSign signs body the way Zendesk documents it
// (developer.zendesk.com/documentation/webhooks/verifying):
// base64(HMAC-SHA256(secret, timestamp + body)).
func zendeskSign(secret, stamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stamp))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestZendeskVerify(t *testing.T) {
	const secret = "dGhpcyBpcyBhIHRlc3Qgc2lnbmluZyBzZWNyZXQ"
	body, err := os.ReadFile(filepath.Join("testdata", "zendesk", "ticket_created.json"))
	require.NoError(t, err)
	now := time.Date(2026, 11, 23, 8, 0, 3, 0, time.UTC)
	stamp := "2026-11-23T08:00:01Z"
	headers := func(sig, ts string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("X-Zendesk-Webhook-Signature", sig)
		}
		if ts != "" {
			h.Set("X-Zendesk-Webhook-Signature-Timestamp", ts)
		}
		return h
	}
	good := zendeskSign(secret, stamp, body)
	tampered := append([]byte(nil), body...)
	tampered = []byte(strings.Replace(string(tampered), `"HIGH"`, `"LOW"`, 1))
	staleStamp := "2026-11-23T07:54:00Z"
	futureStamp := "2026-11-23T08:05:30Z"

	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		secret  string
		wantErr string // "" when valid
	}{
		{"valid", headers(good, stamp), body, secret, ""},
		{"valid at the edge of the window", headers(zendeskSign(secret, "2026-11-23T07:55:03Z", body), "2026-11-23T07:55:03Z"), body, secret, ""},
		{"wrong secret", headers(zendeskSign("another secret", stamp, body), stamp), body, secret, "signature mismatch"},
		{"tampered body", headers(good, stamp), tampered, secret, "signature mismatch"},
		{"timestamp changed", headers(good, "2026-11-23T08:00:02Z"), body, secret, "signature mismatch"},
		{"missing signature", headers("", stamp), body, secret, "missing header X-Zendesk-Webhook-Signature"},
		{"missing timestamp", headers(good, ""), body, secret, "missing header X-Zendesk-Webhook-Signature-Timestamp"},
		{"signature not base64", headers("not base64!", stamp), body, secret, "not a base64 HMAC-SHA256"},
		{"signature of the wrong length", headers(base64.StdEncoding.EncodeToString([]byte("short")), stamp), body, secret, "not a base64 HMAC-SHA256"},
		{"timestamp not RFC 3339", headers(good, "1795420801"), body, secret, "not an RFC 3339 time"},
		{"stale timestamp", headers(zendeskSign(secret, staleStamp, body), staleStamp), body, secret, "stale signature timestamp"},
		{"timestamp in the future", headers(zendeskSign(secret, futureStamp, body), futureStamp), body, secret, "stale signature timestamp"},
		{"no secret configured", headers(good, stamp), body, "", "no signing secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Zendesk{}.Verify(tt.h, nil, tt.body, []byte(tt.secret), now)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthorized)
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, err.Error(), good)
		})
	}
}

func TestZendeskBadPayload(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `<html>502</html>`, "not a JSON"},
		{"truncated", `{"type":"zen:event-type:ticket.created","id":"01J`, "not a JSON"},
		{"missing ticket id", `{"type":"zen:event-type:ticket.created","id":"01JD8Z","time":"2026-11-23T08:00:00Z","detail":{"status":"NEW"}}`, "without a ticket id"},
		{"missing time", `{"type":"zen:event-type:ticket.created","id":"01JD8Z","subject":"zen:ticket:1","detail":{"id":"1"}}`, "without a time"},
		{"bad time", `{"type":"zen:event-type:ticket.created","id":"01JD8Z","time":"23/11/2026","detail":{"id":"1"}}`, "not an RFC 3339"},
		{"missing event id", `{"type":"zen:event-type:ticket.created","time":"2026-11-23T08:00:00Z","detail":{"id":"1"}}`, "without an event id"},
		{"status change without event", `{"type":"zen:event-type:ticket.status_changed","id":"01JD8Z","time":"2026-11-23T08:00:00Z","detail":{"id":"1"}}`, "without an event object"},
		{"comment without author", `{"type":"zen:event-type:ticket.comment_added","id":"01JD8Z","time":"2026-11-23T08:00:00Z","detail":{"id":"1"},"event":{"comment":{"id":"5","is_public":true}}}`, "event.comment.author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireBadPayload(t, Zendesk{}, tt.body, tt.want)
		})
	}
}

// TestZendeskTicketFromSubject: a payload whose detail lacks the id still
// names its ticket in "subject".
func TestZendeskTicketFromSubject(t *testing.T) {
	body := `{"type":"zen:event-type:ticket.priority_changed","id":"01JD8Z","time":"2026-11-23T08:00:00+01:00","subject":"zen:ticket:77","detail":{},"event":{"current":"low","previous":null}}`
	got, err := Zendesk{}.Map(nil, []byte(body), nil)
	require.NoError(t, err)
	require.Equal(t, []Event{{
		ID: "zendesk:01JD8Z:updated", Type: "ticket.updated", TicketID: "zendesk:77",
		OccurredAt: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), Priority: "low",
	}}, got)
}

// TestZendeskRedelivery: Zendesk retries a delivery with the same body, so
// it must map to the same ids (and the same events) every time.
func TestZendeskRedelivery(t *testing.T) {
	payloads, err := filepath.Glob(filepath.Join("testdata", "zendesk", "*.json"))
	require.NoError(t, err)
	for _, p := range payloads {
		if strings.HasSuffix(p, ".events.json") {
			continue
		}
		body, err := os.ReadFile(p)
		require.NoError(t, err)
		labels := Zendesk{}.Labels()
		first, err := Zendesk{}.Map(http.Header{}, body, &labels)
		require.NoError(t, err)
		again, err := Zendesk{}.Map(http.Header{"X-Zendesk-Webhook-Invocation-Attempt": {"2"}}, body, &labels)
		require.NoError(t, err)
		require.Equal(t, first, again, p)
	}
}

// TestZendeskLabels: the table is applied to lower-cased values, and an
// operator's table replaces the default.
func TestZendeskLabels(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "zendesk", "ticket_created.json"))
	require.NoError(t, err)
	l := Labels{
		Channels:   map[string]string{"email": "mail"},
		Priorities: map[string]string{"high": "urgent"},
	}
	got, err := Zendesk{}.Map(nil, body, &l)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "mail", got[0].Channel)
	require.Equal(t, "urgent", got[0].Priority)

	def := Zendesk{}.Labels()
	for _, m := range []map[string]string{def.Channels, def.Priorities, def.Statuses} {
		for k := range m {
			require.Equal(t, strings.ToLower(k), k, "table keys are lower-case")
		}
	}
	def.Statuses["hold"] = "pending"
	require.Equal(t, "on_hold", Zendesk{}.Labels().Statuses["hold"], "Labels returns a fresh table")
}

// TestZendeskStatusTransitions covers the status pairs the fixtures leave
// out.
func TestZendeskStatusTransitions(t *testing.T) {
	tests := []struct {
		cur, prev string
		want      []string // type, status
	}{
		{"OPEN", "NEW", []string{"ticket.status_changed", "open"}},
		{"PENDING", "", []string{"ticket.status_changed", "pending"}},
		{"SOLVED", "", []string{"ticket.resolved", ""}},
		{"PENDING", "SOLVED", []string{"ticket.reopened", ""}},
		{"OPEN", "CLOSED", []string{"ticket.reopened", ""}},
		{"DELETED", "OPEN", nil},
		{"ARCHIVED", "CLOSED", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prev+"→"+tt.cur, func(t *testing.T) {
			body := `{"type":"zen:event-type:ticket.status_changed","id":"01JD8Z","time":"2026-11-23T08:00:00Z","detail":{"id":"9"},"event":{"current":"` + tt.cur + `","previous":"` + tt.prev + `"}}`
			got, err := Zendesk{}.Map(nil, []byte(body), nil)
			require.NoError(t, err)
			if tt.want == nil {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.Equal(t, tt.want[0], got[0].Type)
			require.Equal(t, tt.want[1], got[0].Status)
		})
	}
}

func FuzzZendeskMap(f *testing.F) {
	payloads, _ := filepath.Glob(filepath.Join("testdata", "zendesk", "*.json"))
	for _, p := range payloads {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Zendesk{}.Map(nil, body, nil)
		if err != nil {
			require.ErrorIs(t, err, ErrBadPayload)
			return
		}
		for _, e := range got {
			require.LessOrEqual(t, len(e.ID), 128)
			require.LessOrEqual(t, len(e.TicketID), 128)
		}
	})
}
