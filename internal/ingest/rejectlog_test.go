package ingest

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

// fakeClock is a wall clock the test moves while the consumer reads it on
// its own goroutine.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// rejectionLines returns the rejection warnings logged so far, decoded.
func rejectionLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if msg, _ := m["message"].(string); strings.HasPrefix(msg, "rejected message") {
			require.Equal(t, "warn", m["level"])
			lines = append(lines, m)
		}
	}
	return lines
}

// TestRejectionsAreRateLimited sends bursts of poison messages through a
// real server, moving the consumer's log clock between them: one warning
// per interval gets through, and the first after a held-back run says how
// many were held back. Every message is still dead-lettered.
func TestRejectionsAreRateLimited(t *testing.T) {
	type step struct {
		advance time.Duration // the clock moves first
		poison  int
	}
	cases := []struct {
		name string
		// steps are sent in turn, each handled before the next.
		steps []step
		// want is, per warning logged, its "suppressed" field (0: absent).
		want []int
	}{
		{"a burst within the interval", []step{{0, 50}}, []int{0}},
		{"a burst, then one after the interval", []step{{0, 50}, {logEvery, 1}}, []int{0, 49}},
		{"one per interval", []step{{0, 1}, {logEvery, 1}, {logEvery, 1}}, []int{0, 0, 0}},
		{"just inside the interval, then at its end", []step{{0, 1}, {logEvery - time.Millisecond, 1}, {time.Millisecond, 1}}, []int{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			_, js := srv.Connect(t)
			clock := &fakeClock{}
			clock.Advance(time.Duration(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano()))
			r := startConsumerWith(t, srv, nil, func(c *Consumer) { c.wall = clock.Now })
			sent := 0
			for _, st := range tc.steps {
				clock.Advance(st.advance)
				for range st.poison {
					sent++
					publishRaw(t, js, "helpdesk.events.x", "poison-"+strconv.Itoa(sent), []byte("not json"))
				}
				waitUntil(t, 10*time.Second, "the rejections", func() bool { return r.rejected.Load() == int64(sent) })
			}
			lines := rejectionLines(t, r.logs.String())
			got := make([]int, len(lines))
			for i, l := range lines {
				require.Equal(t, "invalid_json", l["reason"])
				if n, ok := l["suppressed"]; ok {
					got[i] = int(n.(float64))
					require.Positive(t, got[i], "suppressed appears only when lines were held back")
				}
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, float64(sent), testutil.ToFloat64(r.c.metrics.deadLettered), "every rejection is dead-lettered, logged or not")
		})
	}
}

// TestLogLimit checks the limiter on its own, at the interval's edges.
func TestLogLimit(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		at             time.Duration
		ok             bool
		wantSuppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{logEvery - 1, false, 0},
		{logEvery, true, 2},
		{logEvery + time.Second, false, 0},
		{3 * logEvery, true, 1},
		{4 * logEvery, true, 0},
	}
	l := logLimit{every: logEvery}
	for _, tc := range cases {
		ok, n := l.allow(t0.Add(tc.at))
		require.Equal(t, tc.ok, ok, "at %v", tc.at)
		require.Equal(t, tc.wantSuppressed, n, "at %v", tc.at)
	}
}
