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

// startWebhookAggregator runs an aggregator with the Zendesk webhook on,
// its clock fixed at now.
func startWebhookAggregator(t *testing.T, now time.Time, secret string) *aggregator {
	t.Helper()
	srv := natstest.Start(t)
	file := filepath.Join(t.TempDir(), "zendesk.secret")
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
	return startAggregator(t, srv.ClientURL(), now, func(c *Config) {
		c.HTTPIngest.Webhooks = map[string]WebhookFile{"zendesk": {SecretFile: file}}
	})
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
