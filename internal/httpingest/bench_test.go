package httpingest

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// BenchmarkEventsEndpoint posts batches of 500 distinct events to POST
// /api/v1/events over HTTP, each answered once JetStream (embedded, file
// storage) acknowledged every event, and reports events per second:
// with the aggregator's default for its embedded server (fsync before
// every acknowledgement), with -embedded-nats-sync 1s, and with the NATS
// server's default (fsync every two minutes).
//
//	go test -run XXX -bench EventsEndpoint -benchtime 100x ./internal/httpingest
func BenchmarkEventsEndpoint(b *testing.B) {
	for _, sync := range []struct {
		name     string
		always   bool
		interval time.Duration
	}{{"fsync=always", true, 0}, {"fsync=1s", false, time.Second}, {"fsync=2m", false, 0}} {
		b.Run(sync.name, func(b *testing.B) {
			dir := b.TempDir()
			ns, err := natsserver.Start(natsserver.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir, SyncAlways: sync.always, SyncInterval: sync.interval})
			require.NoError(b, err)
			b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
			postBatches(b, newEnvOn(b, Config{Tokens: [][]byte{[]byte("bench")}, MaxClockSkew: time.Hour}, &natstest.Server{Server: ns, StoreDir: dir}))
		})
	}
}

func postBatches(b *testing.B, e *env) {
	const batch = 500
	var body bytes.Buffer
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		body.Reset()
		body.WriteByte('[')
		for i := range batch {
			if i > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"id":"e-%d","type":"ticket.opened","ticket_id":"T-%d","occurred_at":"2026-11-23T11:00:00Z","channel":"email","priority":"high","team":"billing"}`, n, n)
			n++
		}
		body.WriteByte(']')
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/events", bytes.NewReader(body.Bytes()))
		require.NoError(b, err)
		req.Header.Set("Authorization", "Bearer bench")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		require.NoError(b, resp.Body.Close())
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}
