package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chatwootSign signs body the way Chatwoot documents it: "sha256=" and the
// hex HMAC-SHA256 of "<timestamp>.<body>".
func chatwootSign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestChatwootVerify(t *testing.T) {
	const secret = "whsec-test-3f9a"
	body, err := os.ReadFile("testdata/chatwoot/message_created_outgoing.json")
	require.NoError(t, err)
	now := time.Date(2026, 3, 2, 9, 21, 41, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	signed := func(sig, ts string) http.Header {
		h := http.Header{}
		h.Set("X-Chatwoot-Signature", sig)
		if ts != "" {
			h.Set("X-Chatwoot-Timestamp", ts)
		}
		return h
	}
	tampered := append([]byte{}, body...)
	tampered[len(tampered)-3] = 'X'

	for _, tc := range []struct {
		name   string
		h      http.Header
		query  url.Values
		body   []byte
		errMsg string // "" when valid
	}{
		{name: "valid signature", h: signed(chatwootSign(secret, ts, body), ts), body: body},
		{name: "valid signature, clock 4m ahead", h: signed(chatwootSign(secret, strconv.FormatInt(now.Add(4*time.Minute).Unix(), 10), body), strconv.FormatInt(now.Add(4*time.Minute).Unix(), 10)), body: body},
		{name: "wrong secret", h: signed(chatwootSign("another-secret", ts, body), ts), body: body, errMsg: "does not match"},
		{name: "tampered body", h: signed(chatwootSign(secret, ts, body), ts), body: tampered, errMsg: "does not match"},
		{name: "timestamp swapped", h: signed(chatwootSign(secret, ts, body), strconv.FormatInt(now.Unix()-1, 10)), body: body, errMsg: "does not match"},
		{name: "stale timestamp", h: signed(chatwootSign(secret, stale, body), stale), body: body, errMsg: "stale"},
		{name: "missing timestamp", h: signed(chatwootSign(secret, ts, body), ""), body: body, errMsg: "missing X-Chatwoot-Timestamp"},
		{name: "timestamp not a number", h: signed(chatwootSign(secret, "yesterday", body), "yesterday"), body: body, errMsg: "Unix seconds"},
		{name: "no sha256= prefix", h: signed(chatwootSign(secret, ts, body)[7:], ts), body: body, errMsg: "sha256=<hex>"},
		{name: "not hex", h: signed("sha256=zz", ts), body: body, errMsg: "64 hex digits"},
		{name: "missing header and token", h: http.Header{}, body: body, errMsg: "no token"},
		{name: "token in query", h: http.Header{}, query: url.Values{"token": {secret}}, body: body},
		{name: "bearer token", h: http.Header{"Authorization": {"Bearer " + secret}}, body: body},
		{name: "wrong token", h: http.Header{}, query: url.Values{"token": {"guess"}}, body: body, errMsg: "wrong token"},
		{name: "signature preferred over a good token", h: func() http.Header {
			h := signed(chatwootSign("another-secret", ts, body), ts)
			h.Set("Authorization", "Bearer "+secret)
			return h
		}(), body: body, errMsg: "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Chatwoot{}.Verify(tc.h, tc.query, tc.body, []byte(secret), now)
			if tc.errMsg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnauthorized)
			require.ErrorContains(t, err, tc.errMsg)
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, err.Error(), chatwootSign(secret, ts, tc.body)[7:])
		})
	}
}

func TestChatwootBadPayload(t *testing.T) {
	for _, tc := range []struct{ name, body, errMsg string }{
		{"not JSON", `<xml/>`, "not a JSON object"},
		{"JSON array", `[{"event":"conversation_created"}]`, "not a JSON object"},
		{"conversation without id", `{"event":"conversation_created","created_at":1772442847,"channel":"Channel::Email"}`, "without a conversation id"},
		{"conversation without time", `{"event":"conversation_created","id":412,"channel":"Channel::Email"}`, "created_at: missing"},
		{"status change without updated_at", `{"event":"conversation_status_changed","id":412,"status":"resolved"}`, "updated_at: missing"},
		{"message without conversation", `{"event":"message_created","id":90219,"message_type":"incoming","created_at":"2026-03-02T09:21:40.118Z"}`, "without conversation.id"},
		{"message without id", `{"event":"message_created","message_type":"incoming","created_at":"2026-03-02T09:21:40.118Z","conversation":{"id":412}}`, "without a message id"},
		{"message with a bad time", `{"event":"message_created","id":90219,"message_type":"incoming","created_at":"soon","conversation":{"id":412}}`, "not a time"},
		{"csat out of range", `{"event":"message_updated","id":90240,"content_type":"input_csat","content_attributes":{"submitted_values":{"csat_survey_response":{"rating":7}}},"conversation":{"id":412,"updated_at":1772455251.6}}`, "outside 1–5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireBadPayload(t, Chatwoot{}, tc.body, tc.errMsg)
		})
	}
}

// TestChatwootRedelivery maps every fixture twice, the second time from a
// copy, as Chatwoot's retries send it: the ids are the same.
func TestChatwootRedelivery(t *testing.T) {
	src := Chatwoot{}
	l := src.Labels()
	for _, name := range []string{"conversation_created", "conversation_status_changed_resolved", "conversation_updated_priority_team", "message_created_outgoing", "message_updated_csat"} {
		body, err := os.ReadFile("testdata/chatwoot/" + name + ".json")
		require.NoError(t, err)
		first, err := src.Map(http.Header{}, body, &l)
		require.NoError(t, err)
		require.NotEmpty(t, first, name)
		again, err := src.Map(http.Header{"X-Chatwoot-Delivery": {"9c4e1f5a-retry"}}, append([]byte{}, body...), &l)
		require.NoError(t, err)
		require.Equal(t, first, again, name)
	}
}

func TestChatwootLabels(t *testing.T) {
	src := Chatwoot{}
	l := src.Labels()
	// Values are lower-cased before lookup; an unknown channel is left out (unknown).
	body := []byte(`{"event":"conversation_created","id":7,"created_at":1772442847,"channel":"CHANNEL::WHATSAPP","priority":"Medium","meta":{"team":null}}`)
	evs, err := src.Map(http.Header{}, body, &l)
	require.NoError(t, err)
	require.Equal(t, []Event{{ID: "chatwoot:7:opened", Type: "ticket.opened", TicketID: "chatwoot:7", OccurredAt: time.Unix(1772442847, 0).UTC(), Channel: "social", Priority: "normal"}}, evs)

	body = []byte(`{"event":"conversation_created","id":8,"created_at":1772442847,"channel":"Channel::Carrier::Pigeon"}`)
	evs, err = src.Map(http.Header{}, body, &l)
	require.NoError(t, err)
	require.Empty(t, evs[0].Channel)

	// A status missing from the table maps to nothing.
	body = []byte(`{"event":"conversation_status_changed","id":7,"updated_at":1772442900.5,"status":"archived","changed_attributes":[{"status":{"current_value":"archived","previous_value":"open"}}]}`)
	evs, err = src.Map(http.Header{}, body, &l)
	require.NoError(t, err)
	require.Empty(t, evs)

	// Reopened into a status other than open: reopened, then that status.
	body = []byte(`{"event":"conversation_status_changed","id":7,"updated_at":1772442900.5,"status":"snoozed","changed_attributes":[{"status":{"current_value":"snoozed","previous_value":"resolved"}}]}`)
	evs, err = src.Map(http.Header{}, body, &l)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, "ticket.reopened", evs[0].Type)
	require.Equal(t, "ticket.status_changed", evs[1].Type)
	require.Equal(t, "pending", evs[1].Status)
	require.NotEqual(t, evs[0].ID, evs[1].ID)

	// Priority removed, team removed.
	body = []byte(`{"event":"conversation_updated","id":7,"updated_at":1772442999.25,"meta":{"team":null},"changed_attributes":[{"priority":{"current_value":null,"previous_value":"high"}},{"team_id":{"current_value":null,"previous_value":4}}]}`)
	evs, err = src.Map(http.Header{}, body, &l)
	require.NoError(t, err)
	require.Equal(t, []Event{{ID: "chatwoot:7:1772442999.25:updated", Type: "ticket.updated", TicketID: "chatwoot:7", OccurredAt: time.Unix(1772442999, 250_000_000).UTC(), Priority: "normal", Team: "unknown"}}, evs)
}

func TestChatwootTimes(t *testing.T) {
	for in, want := range map[string]time.Time{
		`1772442847`:                  time.Unix(1772442847, 0).UTC(),
		`1772442847.281964`:           time.Unix(1772442847, 281_964_000).UTC(),
		`"2026-03-02T09:21:40.118Z"`:  time.Date(2026, 3, 2, 9, 21, 40, 118_000_000, time.UTC),
		`"2020-03-03 13:05:57 UTC"`:   time.Date(2020, 3, 3, 13, 5, 57, 0, time.UTC),
		`"2026-03-02T10:21:40+01:00"`: time.Date(2026, 3, 2, 9, 21, 40, 0, time.UTC),
	} {
		got, err := cwTime([]byte(in))
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		require.Equal(t, time.UTC, got.Location(), in)
	}
}
