package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// hookDelivery is one webhook delivery of a fixture: its body and the
// headers the helpdesk sends with it.
type hookDelivery struct {
	name string
	body []byte
}

func readFixture(t *testing.T, source, name string) hookDelivery {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "internal", "webhook", "testdata", source, name+".json"))
	require.NoError(t, err)
	return hookDelivery{name, body}
}

// zendeskPost delivers one Zendesk payload, signed as Zendesk signs it.
func zendeskPost(t *testing.T, baseURL, secret string, d hookDelivery, now time.Time) (int, string) {
	t.Helper()
	stamp := now.UTC().Format(time.RFC3339)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stamp))
	mac.Write(d.body)
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/v1/webhooks/zendesk", bytes.NewReader(d.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Zendesk-Webhook-Signature-Timestamp", stamp)
	req.Header.Set("X-Zendesk-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

// startWebhookAggregator runs an aggregator with the Zendesk and Chatwoot
// webhooks on, both with secret, its clock fixed at now.
func startWebhookAggregator(t *testing.T, now time.Time, secret string, edit ...func(*Config)) *aggregator {
	t.Helper()
	srv := natstest.Start(t)
	file := filepath.Join(t.TempDir(), "webhook.secret")
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
	return startAggregator(t, srv.ClientURL(), now, append([]func(*Config){func(c *Config) {
		c.HTTPIngest.Webhooks = map[string]WebhookFile{"zendesk": {SecretFile: file}, "chatwoot": {SecretFile: file}}
	}}, edit...)...)
}

// post sends body to path with the given headers and returns the status
// and the answer.
func post(t *testing.T, url string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

// TestZendeskWebhookEndToEnd: one ticket's life as Zendesk delivers it
// (fixtures from internal/webhook/testdata/zendesk), posted to a running
// aggregator, gives exact KPIs; delivered twice, and in another order to
// another aggregator, the same numbers.
//
// By hand, from the fixtures: ticket zendesk:48213 opened 08:00:00.412345678
// (email, high, team 360004877772); public agent reply and pending at
// 08:12:30.004518231 (first reply 749.592172553 s: 749.592 s as the mean
// of whole milliseconds; high first reply target 1h: achieved); customer
// message at 08:20 (a wait starts, and the next reply clock, high 2h);
// solved at 09:40:00.25 (resolution 5999.838 s; the wait ends without a
// sample, its clock achieved; the resolution clock, paused since 08:12:30
// on pending, achieved). One reply event and no replies field: FCR 1.
func TestZendeskWebhookEndToEnd(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const secret = "zd-signing-secret"
	sequence := []string{"ticket_created", "comment_agent_public", "status_pending", "comment_customer", "status_solved"}
	var deliveries []hookDelivery
	for _, n := range sequence {
		deliveries = append(deliveries, readFixture(t, "zendesk", n))
	}
	check := func(m map[string]float64) {
		t.Helper()
		all := map[string]string{"window": "24h", "channel": "all", "priority": "all", "team": "all"}
		for name, want := range map[string]float64{
			"helpdesk_tickets_opened": 1, "helpdesk_tickets_resolved": 1, "helpdesk_first_replies": 1,
			"helpdesk_first_reply_time_avg_seconds": 749.592, "helpdesk_agent_replies": 1, "helpdesk_customer_messages": 1,
			"helpdesk_next_replies": 0, "helpdesk_fcr_ratio": 1, "helpdesk_resolution_time_avg_seconds": 5999.838,
		} {
			require.InDelta(t, want, m[key(name, all)], 1e-9, name)
		}
		require.Equal(t, 1.0, m[key("helpdesk_tickets_opened", map[string]string{"window": "24h", "channel": "email", "priority": "all", "team": "all"})])
		require.Equal(t, 1.0, m[key("helpdesk_tickets_opened", map[string]string{"window": "24h", "channel": "all", "priority": "all", "team": "360004877772"})])
		require.Equal(t, 0.0, m[key("helpdesk_open_tickets", map[string]string{"channel": "all", "priority": "all", "team": "all"})])
		for _, s := range []string{"first_reply", "next_reply", "resolution"} {
			l := map[string]string{"window": "24h", "sla": s, "policy": "all", "priority": "all", "channel": "all", "team": "all"}
			require.Equal(t, 1.0, m[key("helpdesk_sla_achieved", l)], s)
			require.Equal(t, 0.0, m[key("helpdesk_sla_breached", l)], s)
		}
	}

	a := startWebhookAggregator(t, now, secret)
	for _, d := range deliveries {
		code, body := zendeskPost(t, a.url, secret, d, now)
		require.Equal(t, http.StatusOK, code, "%s: %s", d.name, body)
	}
	m := waitHandled(t, a.url, len(deliveries))
	check(m)
	require.Equal(t, float64(len(deliveries)), m[key("helpdesk_ingest_requests_total", map[string]string{"source": "zendesk", "result": "accepted"})])

	// Delivered again (Zendesk retries): JetStream drops every event as a
	// duplicate, and nothing changes.
	for _, d := range deliveries {
		code, body := zendeskPost(t, a.url, secret, d, now)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `"duplicates": 1`, d.name)
	}
	check(scrape(t, a.url))

	// In another order (the opening last), to another aggregator: the
	// same numbers.
	b := startWebhookAggregator(t, now, secret)
	shuffled := append([]hookDelivery(nil), deliveries...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, d := range shuffled {
		if d.name == "ticket_created" {
			shuffled[i], shuffled[len(shuffled)-1] = shuffled[len(shuffled)-1], shuffled[i]
		}
	}
	for _, d := range shuffled {
		code, body := zendeskPost(t, b.url, secret, d, now)
		require.Equal(t, http.StatusOK, code, "%s: %s", d.name, body)
	}
	check(waitHandled(t, b.url, len(deliveries)))
}

// TestChatwootWebhookEndToEnd: a Chatwoot conversation as Chatwoot
// delivers it (fixtures from internal/webhook/testdata/chatwoot), with the
// shared token in the URL, ending in a CSAT rating.
//
// By hand: conversation chatwoot:412 opened 2026-03-02 09:14:07 (chat,
// high, team Billing); agent reply 09:21:40.118 (first reply 453.118 s;
// high target 1h: achieved); customer message 10:05:00.906 (a wait, next
// reply target high 2h: due 12:05:00.906); snoozed (pending) 11:42:19.500218,
// which pauses the resolution clock only; resolved 12:10:33.090211
// (resolution 10586.090 s, achieved; the wait ends without a sample and its
// clock, past due, breached at 12:05:00.906); CSAT 4 at 12:40:51.664502.
func TestChatwootWebhookEndToEnd(t *testing.T) {
	now := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
	const secret = "cw-token"
	seq := []string{"conversation_created", "message_created_outgoing", "message_created_incoming",
		"conversation_status_changed_snoozed", "conversation_status_changed_resolved", "message_updated_csat"}
	deliver := func(a *aggregator, names []string, want string) {
		t.Helper()
		for _, n := range names {
			d := readFixture(t, "chatwoot", n)
			code, body := post(t, a.url+"/api/v1/webhooks/chatwoot?token="+secret, d.body, "Content-Type", "application/json")
			require.Equal(t, http.StatusOK, code, "%s: %s", n, body)
			require.Contains(t, body, want, n)
		}
	}
	a := startWebhookAggregator(t, now, secret)
	deliver(a, seq, `"accepted": 1`)
	checkChatwoot(t, waitHandled(t, a.url, len(seq)))
	// Delivered twice: duplicates, the same numbers.
	deliver(a, seq, `"duplicates": 1`)
	checkChatwoot(t, scrape(t, a.url))
	// Backwards, to another aggregator: the same numbers.
	b := startWebhookAggregator(t, now, secret)
	backwards := slices.Clone(seq)
	slices.Reverse(backwards)
	deliver(b, backwards, `"accepted": 1`)
	checkChatwoot(t, waitHandled(t, b.url, len(seq)))
}

func checkChatwoot(t *testing.T, m map[string]float64) {
	t.Helper()
	all := map[string]string{"window": "24h", "channel": "all", "priority": "all", "team": "all"}
	for name, want := range map[string]float64{
		"helpdesk_tickets_opened": 1, "helpdesk_tickets_resolved": 1, "helpdesk_first_replies": 1,
		"helpdesk_first_reply_time_avg_seconds": 453.118, "helpdesk_resolution_time_avg_seconds": 10586.090,
		"helpdesk_agent_replies": 1, "helpdesk_customer_messages": 1, "helpdesk_next_replies": 0, "helpdesk_fcr_ratio": 1,
		"helpdesk_csat_responses": 1, "helpdesk_csat_satisfied_responses": 1, "helpdesk_csat_score_avg": 4,
	} {
		require.InDelta(t, want, m[key(name, all)], 1e-9, name)
	}
	require.Equal(t, 1.0, m[key("helpdesk_tickets_opened", map[string]string{"window": "24h", "channel": "chat", "priority": "all", "team": "all"})])
	require.Equal(t, 1.0, m[key("helpdesk_csat_responses", map[string]string{"window": "24h", "channel": "all", "priority": "all", "team": "Billing"})])
	sla := func(s, outcome string) float64 {
		return m[key("helpdesk_sla_"+outcome, map[string]string{"window": "24h", "sla": s, "policy": "all", "priority": "all", "channel": "all", "team": "all"})]
	}
	require.Equal(t, [2]float64{1, 0}, [2]float64{sla("first_reply", "achieved"), sla("first_reply", "breached")})
	require.Equal(t, [2]float64{0, 1}, [2]float64{sla("next_reply", "achieved"), sla("next_reply", "breached")})
	require.Equal(t, [2]float64{1, 0}, [2]float64{sla("resolution", "achieved"), sla("resolution", "breached")})
	require.Equal(t, 1.0, m[key("helpdesk_survey_responses_total", map[string]string{"kind": "csat", "score": "4"})])
}

// TestWebhookBadInput: each bad delivery gets a clear 4xx, is counted by
// result, and publishes nothing.
func TestWebhookBadInput(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const secret = "zd-signing-secret"
	a := startWebhookAggregator(t, now, secret, func(c *Config) { c.HTTPIngest.MaxBodyBytes = 4096 })
	created := readFixture(t, "zendesk", "ticket_created")

	// Signed with another secret.
	code, body := zendeskPost(t, a.url, "not-the-secret", created, now)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, "signature mismatch")
	require.NotContains(t, body, secret)
	// A source without a secret is off.
	code, body = post(t, a.url+"/api/v1/webhooks/jira", created.body)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "ingest.webhooks.jira.secret_file")
	// Too large.
	code, _ = post(t, a.url+"/api/v1/webhooks/chatwoot?token="+secret, bytes.Repeat([]byte(" "), 5000))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	// Not JSON, correctly signed: 400, and kept in the dead-letter stream.
	code, body = zendeskPost(t, a.url, secret, hookDelivery{"broken", []byte(`{"type":"zen:event-type:ticket.created",`)}, now)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "bad payload")
	// A Zendesk delivery (signed as Zendesk signs) posted to the Chatwoot
	// endpoint: it carries no Chatwoot signature or token.
	stamp := now.Format(time.RFC3339)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stamp))
	mac.Write(created.body)
	code, body = post(t, a.url+"/api/v1/webhooks/chatwoot", created.body, "X-Zendesk-Webhook-Signature-Timestamp", stamp,
		"X-Zendesk-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	require.Equal(t, http.StatusUnauthorized, code, body)

	m := scrape(t, a.url)
	res := func(source, result string) float64 {
		return m[key("helpdesk_ingest_requests_total", map[string]string{"source": source, "result": result})]
	}
	require.Equal(t, 1.0, res("zendesk", "unauthorized"))
	require.Equal(t, 1.0, res("jira", "off"))
	require.Equal(t, 1.0, res("chatwoot", "too_large"))
	require.Equal(t, 1.0, res("zendesk", "bad_request"))
	require.Equal(t, 1.0, res("chatwoot", "unauthorized"))
	for _, typ := range []string{"ticket.opened", "ticket.replied"} {
		require.Equal(t, 0.0, m[key("helpdesk_events_total", map[string]string{"type": typ})])
	}
	require.Equal(t, 0.0, m[`helpdesk_consumer_pending_messages{}`])
}
