package snapshot

import (
	"cmp"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// BenchmarkSnapshot1M measures a durable snapshot of a large state, and a
// restart from it: 1,000,000 open tickets, each opened and answered once,
// over three days of event time, with the default configuration. "save"
// is what the engine does: kpi.State.AppendBinary into a NewBuffer sized
// from the previous snapshot, Manager.Seal, and Manager.SaveSealed to a directory
// on the real file system (fsync of the file and of the directory
// included); "load"
// is Manager.Load (read, checksum) plus kpi.Restore. The target is under
// 2 s each.
//
//	go test -run '^$' -bench Snapshot1M -benchtime 1x ./internal/snapshot
func BenchmarkSnapshot1M(b *testing.B) {
	const tickets = 1_000_000
	state := openTickets(b, tickets, 3*24*time.Hour)
	require.Equal(b, tickets, state.Tracked())
	dir, err := NewDir(b.TempDir(), OS{})
	require.NoError(b, err)
	m := NewManager(dir, zerolog.Nop(), prometheus.NewRegistry())
	var seq uint64
	var size int
	save := func() (encode, write time.Duration) {
		start := time.Now()
		seq++
		data := m.Seal(state.AppendBinary(NewBuffer(size+size/8)), Header{Seq: seq, TakenAt: time.Now()})
		encode = time.Since(start)
		require.NoError(b, m.SaveSealed(ctx, seq, data, encode))
		size = len(data)
		return encode, time.Since(start) - encode
	}

	b.Run("save", func(b *testing.B) {
		b.ReportAllocs()
		var encode, write time.Duration
		for b.Loop() {
			e, w := save()
			encode, write = encode+e, write+w
		}
		n := float64(b.N)
		b.ReportMetric(float64(size)/1e6, "MB")
		b.ReportMetric(encode.Seconds()/n, "encode-s/op")
		b.ReportMetric(write.Seconds()/n, "write-s/op")
		b.ReportMetric((encode+write).Seconds()/n, "s/op")
	})

	b.Run("load", func(b *testing.B) {
		if seq == 0 {
			save()
		}
		b.ReportAllocs()
		var read, restore time.Duration
		for b.Loop() {
			start := time.Now()
			snap, ok, err := m.Load(ctx)
			require.NoError(b, err)
			require.True(b, ok)
			read += time.Since(start)
			start = time.Now()
			s, err := kpi.Restore(kpi.DefaultConfig(), snap.State)
			restore += time.Since(start)
			require.NoError(b, err)
			require.Equal(b, tickets, s.Tracked())
		}
		n := float64(b.N)
		b.ReportMetric(float64(size)/1e6, "MB")
		b.ReportMetric(read.Seconds()/n, "read-s/op")
		b.ReportMetric(restore.Seconds()/n, "restore-s/op")
		b.ReportMetric((read+restore).Seconds()/n, "s/op")
	})
}

// openTickets returns a state, with the default configuration, holding n
// open tickets opened evenly over span, each answered 1 minute to 4 hours
// later. Events are applied in event-time order and the clock follows
// them, as a live aggregator's would. Ticket ids look like a helpdesk's
// ("TCK-0123456"), one in ten a UUID; event ids are UUIDs.
func openTickets(tb testing.TB, n int, span time.Duration) *kpi.State {
	tb.Helper()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixNano()
	rng := rand.New(rand.NewPCG(1, 2))
	type pending struct {
		at     int64
		ticket int32
		reply  bool
	}
	order := make([]pending, 0, 2*n)
	for i := range n {
		opened := start + int64(i)*int64(span)/int64(n)
		reply := opened + int64(time.Minute) + rng.Int64N(int64(4*time.Hour-time.Minute))
		order = append(order, pending{opened, int32(i), false}, pending{reply, int32(i), true})
	}
	slices.SortFunc(order, func(a, b pending) int { return cmp.Compare(a.at, b.at) })

	s, err := kpi.New(kpi.DefaultConfig(), start)
	require.NoError(tb, err)
	channels := [][]byte{[]byte("email"), []byte("chat"), []byte("phone"), []byte("web"), []byte("social")}
	teams := [][]byte{[]byte("billing"), []byte("tech"), []byte("sales"), []byte("accounts"),
		[]byte("onboarding"), []byte("returns"), []byte("vip"), []byte("security")}
	uuid := func(dst []byte, x uint64, y uint64) []byte {
		var raw [16]byte
		for i := range 8 {
			raw[i], raw[8+i] = byte(x>>(8*i)), byte(y>>(8*i))
		}
		var h [32]byte
		hex.Encode(h[:], raw[:])
		dst = append(dst, h[0:8]...)
		dst = append(dst, '-')
		dst = append(dst, h[8:12]...)
		dst = append(dst, '-')
		dst = append(dst, h[12:16]...)
		dst = append(dst, '-')
		dst = append(dst, h[16:20]...)
		dst = append(dst, '-')
		return append(dst, h[20:32]...)
	}
	var id, tid []byte
	e := &events.Event{}
	for i, p := range order {
		k := uint64(p.ticket)
		if k%10 == 9 {
			tid = uuid(tid[:0], k*0x9e3779b97f4a7c15, k)
		} else {
			tid = strconv.AppendUint(append(tid[:0], "TCK-"...), 1_000_000+k, 10)
		}
		id = uuid(id[:0], uint64(i)*0xbf58476d1ce4e5b9, k)
		*e = events.Event{ID: id, TicketID: tid, OccurredAt: p.at, Replies: -1, HandleMillis: -1}
		if p.reply {
			e.Type = events.TicketFirstReply
		} else {
			e.Type = events.TicketOpened
			e.Channel = channels[k%uint64(len(channels))]
			e.Priority = events.Priority(k % events.NumPriorities)
			e.Team = teams[k%uint64(len(teams))]
		}
		if i%1000 == 0 {
			s.Advance(p.at) // as the engine does before each batch
		}
		if s.Apply(e) != kpi.Applied {
			tb.Fatalf("event %d (%s of %s) not applied", i, e.Type, tid)
		}
	}
	s.Advance(order[len(order)-1].at)
	return s
}
