package kpi

import (
	"bytes"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// fuzzConfig is the default configuration with room for three teams and
// two channels besides "other": the same code paths, with encodings a
// third as long (the ledger and windows hold one slot per combination),
// so that the fuzzer's mutations land on meaningful bytes more often, and
// the team limit is within its reach.
func fuzzConfig() Config {
	cfg := DefaultConfig()
	cfg.Channels = []string{"email", "chat"}
	cfg.MaxTeams = 3
	return cfg
}

func newFuzzState(tb testing.TB, nowMinute float64) *State {
	tb.Helper()
	s, err := New(fuzzConfig(), at(nowMinute))
	require.NoError(tb, err)
	return s
}

// restoreSeeds returns real encodings: an empty state, the small script,
// the script with stream times and a clock moved past SLA deadlines and
// window panes, and a mix with held, ticketless and long-id events.
func restoreSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte

	empty := newFuzzState(tb, 0)
	out = append(out, empty.AppendBinary(nil))

	s := newFuzzState(tb, 40)
	applyAll(s, script())
	out = append(out, s.AppendBinary(nil))

	// With stream times (the ledger clock), ticks and a later clock:
	// the windows slide, SLA clocks breach, the ledger moves.
	live := newFuzzState(tb, 0)
	for i, e := range script() {
		live.Arrive(at(float64(i)))
		live.Apply(e)
	}
	live.Tick(at(50))
	live.View(at(300))
	live.Reject(events.ReasonInvalidJSON)
	live.Reject(events.ReasonFuture)
	out = append(out, live.AppendBinary(nil))

	mixed := newFuzzState(tb, 40)
	applyAll(mixed, append(script(),
		ev("u1", events.TicketOpened, "U", 1, pri(events.PriorityUrgent), team("zeta")),
		ev("h9", events.TicketResolved, "H", 37, replies(1)), // held: no opening
		ev("s9", events.SurveyAnswered, "Q", 38, survey(events.SurveyNPS, 3)),
		ev("s8", events.SurveyAnswered, "", 39, survey(events.SurveyCSAT, 4)), // ticketless
		ev("lt", events.TicketOpened, "L"+string(bytes.Repeat([]byte{'x'}, 40)), 39, pri(events.PriorityHigh)),
		ev("o1", events.TicketOpened, "T1", 0), // a duplicate
	))
	mixed.View(at(2000))
	out = append(out, mixed.AppendBinary(nil))
	return out
}

// FuzzRestore feeds Restore arbitrary bytes. It must never panic, and it
// must refuse everything the encoder did not write: whatever it accepts
// re-encodes (AppendBinary) to exactly the input. A state it accepts must
// also be usable: a snapshot of it must not panic.
//
// The corpus starts from real encodings and mutations of them (bytes
// flipped, cut, appended), so that the fuzzer begins past the
// configuration prefix, which is compared byte for byte.
//
// testdata/fuzz/FuzzRestore holds what it found, all fixed now (two of the
// flipped seeds above found the first two as well):
//
//   - panic-window-sample-group-out-of-range: windows.Window.Restore
//     checked a histogram sample's bin but not its group, whose breakdown
//     (channel, priority, team) expandHists maps to cells past the
//     layout: applySample indexes w.hists out of range.
//   - hang-unbounded-count-after-fail: after Reader.Fail (here "window
//     24h0m0s: histogram bin 1664 out of range") the reader kept its
//     bytes, and Count skipped its bound once an error was recorded, so the
//     reads Restore goes on with take a garbage count of 1.7e12 (the
//     native buckets of a duration histogram, in durationHist.readBinary):
//     Restore did not return for hours. Fail now drops what is unread.
//   - property-window-counter-twice, property-window-counter-zero: a
//     window pane could name a counter twice (an index step of 0 after the
//     first) or give it the value 0; the encoder writes neither.
//   - property-overlong-varint: varints were accepted in non-minimal form
//     (0x80 0x00 for 0), anywhere; snapfmt.Reader now refuses them.
func FuzzRestore(f *testing.F) {
	for _, enc := range restoreSeeds(f) {
		f.Add(enc)
		// Cut short, one byte too many, the format byte of format 1.
		f.Add(enc[:len(enc)/2])
		f.Add(enc[:len(enc)-1])
		f.Add(append(bytes.Clone(enc), 0))
		f.Add(append([]byte{4}, enc[1:]...))
		// Flips spread over the whole encoding, past the config prefix
		// most of them.
		for _, i := range []int{1, len(enc) / 5, len(enc) / 3, len(enc) / 2, 2 * len(enc) / 3, len(enc) - 2} {
			m := bytes.Clone(enc)
			m[i] ^= 0x01
			f.Add(m)
			m = bytes.Clone(m)
			m[i] ^= 0x81 // now ^0x80: a varint continued or ended
			f.Add(m)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{stateFormat})

	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		s, err := restoreWithin(t, data, restoreBudget)
		require.Equal(t, orig, data, "Restore must not modify its input")
		if err != nil {
			require.Nil(t, s)
			return
		}
		require.NotNil(t, s)
		if again := s.AppendBinary(nil); !bytes.Equal(data, again) {
			i := 0
			for i < min(len(data), len(again)) && data[i] == again[i] {
				i++
			}
			t.Fatalf("Restore accepted %d bytes that the encoder did not write: they re-encode to %d bytes, first differing at offset %d: % x… against % x…",
				len(data), len(again), i, data[i:min(len(data), i+8)], again[i:min(len(again), i+8)])
		}
		s.View(s.sla.now)
	})
}

// restoreBudget bounds one Restore of a fuzz input, a few kilobytes that
// take milliseconds: far beyond it, Restore is doing work unbounded by its
// input.
const restoreBudget = 10 * time.Second

// restoreWithin is Restore, failing the test when it does not return
// within budget: a corrupt input that makes Restore loop (nearly) forever
// must show as a failure, not as a test binary killed by -timeout. The
// goroutine left running is the bug's; the test binary's exit ends it.
func restoreWithin(t *testing.T, data []byte, budget time.Duration) (*State, error) {
	t.Helper()
	type result struct {
		s     *State
		err   error
		panic any
		stack []byte
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p, stack: debug.Stack()}
			}
		}()
		s, err := Restore(fuzzConfig(), data)
		done <- result{s: s, err: err}
	}()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Fatalf("Restore panicked: %v\n%s", r.panic, r.stack)
		}
		return r.s, r.err
	case <-timer.C:
		t.Fatalf("Restore of %d bytes still running after %v: it does work unbounded by its input", len(data), budget)
		return nil, nil
	}
}

// TestRestoreSeedsRoundTrip checks that the fuzz seeds are what they claim
// to be: real encodings that Restore accepts, and that re-encode exactly.
func TestRestoreSeedsRoundTrip(t *testing.T) {
	for i, enc := range restoreSeeds(t) {
		s, err := Restore(fuzzConfig(), enc)
		require.NoError(t, err, "seed %d", i)
		require.Equal(t, enc, s.AppendBinary(nil), "seed %d", i)
	}
}
