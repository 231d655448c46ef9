package kpi

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// TestRestoreContinuesExactly splits a stream at every position class:
// the state restored from a snapshot taken at the split, fed the rest,
// must end exactly like the state that saw everything.
func TestRestoreContinuesExactly(t *testing.T) {
	base := script()
	base = append(base,
		ev("u1", events.TicketOpened, "U", 1, pri(urg), team("zeta")),
		ev("h9", events.TicketResolved, "H", 37, replies(1)), // held, later orphaned
		ev("s9", events.SurveyAnswered, "Q", 38, survey(events.SurveyNPS, 3)),
		ev("lt", events.TicketOpened, "L"+string(make([]byte, 40)), 39, pri(hi)), // a long id
	)
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 40 {
		evs := append([]*events.Event(nil), base...)
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		split := rng.IntN(len(evs) + 1)

		whole := newState(t, 40)
		applyAll(whole, evs)

		first := newState(t, 40)
		applyAll(first, evs[:split])
		data := first.AppendBinary(nil)
		restored, err := Restore(DefaultConfig(), data)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, data, restored.AppendBinary(nil), "round %d: re-encoding differs", round)
		applyAll(restored, evs[split:])

		for _, m := range []float64{40, 100, 300, 2000} {
			a, b := whole.View(at(m)), restored.View(at(m))
			require.Equal(t, byCell(a), byCell(b), "round %d at %v", round, m)
			require.Equal(t, a.SLA, b.SLA, "round %d at %v", round, m)
			require.Equal(t, a.Tickets, b.Tickets, "round %d at %v", round, m)
			require.Equal(t, a.Applied, b.Applied)
			require.Equal(t, a.Duplicates, b.Duplicates)
			require.Equal(t, a.Orphaned, b.Orphaned)
			require.Equal(t, a.FirstReplyDurations, b.FirstReplyDurations)
			require.Equal(t, a.TrackedTickets, b.TrackedTickets)
		}
	}
}

func TestRestoreRefusesOtherConfigAndCorruption(t *testing.T) {
	s := newState(t, 40)
	applyAll(s, script())
	data := s.AppendBinary(nil)

	cfg := DefaultConfig()
	cfg.Windows = cfg.Windows[:2]
	_, err := Restore(cfg, data)
	require.ErrorContains(t, err, "other windows")

	cfg = DefaultConfig()
	cfg.SLA.Policies[0].Targets[0][events.PriorityUrgent] = time.Minute
	_, err = Restore(cfg, data)
	require.Error(t, err)

	for _, cut := range []int{len(data) / 3, len(data) - 1} {
		_, err := Restore(DefaultConfig(), data[:cut])
		require.Error(t, err, "cut at %d", cut)
	}
	_, err = Restore(DefaultConfig(), append(data, 0))
	require.ErrorContains(t, err, "left over")
}

// TestEncodeToWritesAppendBinary: the streamed encoding is the same bytes,
// written in chunks of about a megabyte.
func TestEncodeToWritesAppendBinary(t *testing.T) {
	s := newState(t, 0)
	for i := range 30_000 { // about 2 MB of state
		id := fmt.Sprintf("T-%d", i)
		s.Apply(ev(id, events.TicketOpened, id, float64(i)/100, pri(urg)))
	}
	want := s.AppendBinary(nil)
	var w chunks
	require.NoError(t, s.EncodeTo(&w))
	require.Equal(t, want, bytes.Join(w, nil))
	require.Greater(t, len(w), 1, "written in chunks")
	for _, c := range w {
		require.LessOrEqual(t, len(c), encodeChunk+64<<10)
	}
	require.ErrorIs(t, s.EncodeTo(failing{}), errFull)
}

type chunks [][]byte

func (c *chunks) Write(b []byte) (int, error) {
	*c = append(*c, bytes.Clone(b))
	return len(b), nil
}

var errFull = errors.New("disk full")

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errFull }
