package windows

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/snapfmt"
)

const sec = int64(time.Second)

func newWindow(t *testing.T, width, ahead time.Duration, now int64) *Window {
	t.Helper()
	bins, err := NewBins()
	require.NoError(t, err)
	w, err := New(Spec{Width: width, Ahead: ahead}, Layout{Counters: 2, Hists: 1, Expand: identity}, bins, now)
	require.NoError(t, err)
	return w
}

// identity makes each group one histogram of the same index.
func identity(group uint32, dst []int) []int { return append(dst, int(group)) }

func TestWindowSlides(t *testing.T) {
	// A 60 s window has 1 s panes. Events at these times (seconds) add 1
	// each; the table reads the total at a given now.
	events := []int64{0, 10, 10, 59, 60, 61, 119}
	// The window at now covers the panes now-59 … now.
	cases := []struct {
		name string
		now  int64 // seconds
		want int64
	}{
		{"panes 0…59 hold 0,10,10,59", 59, 4},
		{"pane 0 leaves at 60: 10,10,59,60", 60, 4},
		{"the 10s leave at 70: 59,60,61", 70, 3},
		{"at 120: 61,119", 120, 2},
		{"nothing after a long jump", 500, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(t, time.Minute, 2*time.Minute, 0)
			for _, e := range events {
				require.True(t, w.Add(e*sec, []int{0}, 1), "event at %d", e)
			}
			w.Advance(tc.now * sec)
			require.Equal(t, tc.want, w.Counter(0))
		})
	}
}

func TestWindowAddsAfterAdvance(t *testing.T) {
	w := newWindow(t, time.Minute, 0, 0)
	w.Advance(100 * sec)
	cases := []struct {
		name string
		at   int64
		ok   bool
	}{
		{"in current pane", 100, true},
		{"oldest pane kept", 41, true},
		{"just before the window", 40, false},
		{"ahead of now without allowance", 101, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.ok, w.Add(tc.at*sec, []int{1}, 5), tc.name)
		require.Equal(t, tc.ok, w.Covers(tc.at*sec), tc.name)
	}
	require.Equal(t, int64(10), w.Counter(1))
	require.Equal(t, int64(0), w.Counter(0))
	w.Advance(101 * sec) // pane 41 leaves
	require.Equal(t, int64(5), w.Counter(1))
}

func TestWindowFuturePaneEntersLater(t *testing.T) {
	w := newWindow(t, time.Minute, 30*time.Second, 0)
	require.True(t, w.Add(20*sec, []int{0}, 1))
	require.True(t, w.Observe(20*sec, 0, 3, 1))
	require.Equal(t, int64(0), w.Counter(0), "a future event is not in the window yet")
	require.Equal(t, int64(0), w.Count(0))
	require.False(t, w.Add(31*sec, []int{0}, 1), "beyond the allowance")
	w.Advance(20 * sec)
	require.Equal(t, int64(1), w.Counter(0))
	require.Equal(t, int64(1), w.Count(0))
	w.Advance(80 * sec)
	require.Equal(t, int64(0), w.Counter(0))
	require.Equal(t, int64(0), w.Count(0))
}

func TestWindowRetraction(t *testing.T) {
	w := newWindow(t, time.Hour, 0, 0)
	w.Advance(int64(30 * time.Minute))
	at := int64(10 * time.Minute)
	w.Add(at, []int{0, 1}, 1)
	w.Observe(at, 0, 120, 1)
	w.Observe(at, 0, 60, 1)
	w.Add(at, []int{0, 1}, -1)
	w.Observe(at, 0, 120, -1)
	require.Equal(t, int64(0), w.Counter(0))
	require.Equal(t, int64(1), w.Count(0))
	out := make([]float64, 1)
	require.True(t, w.Quantiles(0, []float64{0.99}, out))
	require.InEpsilon(t, 60, out[0], 0.01)
	// When the pane leaves, the totals return to exactly zero.
	w.Advance(int64(71 * time.Minute))
	require.Equal(t, int64(0), w.Count(0))
	require.False(t, w.Quantiles(0, []float64{0.5}, out))
}

func TestNewRejectsBadSpecs(t *testing.T) {
	bins, err := NewBins()
	require.NoError(t, err)
	for _, spec := range []Spec{{Width: 0}, {Width: 61 * time.Nanosecond}, {Width: time.Hour, Ahead: -1}} {
		_, err := New(spec, Layout{}, bins, 0)
		require.Error(t, err, "%+v", spec)
	}
}

func TestNearestRank(t *testing.T) {
	cases := []struct {
		q    float64
		n    int64
		want int64
	}{
		{0.5, 1, 1}, {0.5, 2, 1}, {0.5, 3, 2}, {0.9, 10, 9}, {0.99, 100, 99},
		{0.99, 101, 100}, {0.9, 11, 10}, {0, 5, 1}, {1, 5, 5},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, NearestRank(tc.q, tc.n), "q=%v n=%d", tc.q, tc.n)
	}
}

// TestQuantileAccuracy checks the sketch against the exact nearest-rank
// quantile of random data, sliding the window across it.
func TestQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	qs := []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999}
	w := newWindow(t, time.Hour, 0, 0)
	type obs struct {
		at int64
		v  float64
	}
	var all []obs
	for i := range 20000 {
		at := int64(i) * int64(time.Second) / 2 // 10,000 s of data
		w.Advance(at)
		// Lognormal durations from milliseconds to days, some exact zeros.
		v := math.Exp(rng.NormFloat64()*2.5 + 6)
		if i%97 == 0 {
			v = 0
		}
		all = append(all, obs{at, v})
		require.True(t, w.Observe(at, 0, v, 1))
		if i%2500 != 2499 {
			continue
		}
		// The window covers the panes head-59 … head, one minute each.
		head := at / int64(time.Minute)
		var in []float64
		for _, o := range all {
			if o.at/int64(time.Minute) > head-60 {
				in = append(in, o.v)
			}
		}
		slices.Sort(in)
		require.Equal(t, int64(len(in)), w.Count(0))
		got := make([]float64, len(qs))
		require.True(t, w.Quantiles(0, qs, got))
		for j, q := range qs {
			exact := in[NearestRank(q, int64(len(in)))-1]
			if exact < MinValue {
				require.Zero(t, got[j])
				continue
			}
			require.LessOrEqual(t, math.Abs(got[j]-exact)/exact, 0.01, "q=%v at %d: got %v exact %v", q, i, got[j], exact)
		}
	}
}

func BenchmarkWindowAdd(b *testing.B) {
	bins, _ := NewBins()
	fourCells := func(_ uint32, dst []int) []int { return append(dst, 0, 1, 2, 3) }
	w, _ := New(Spec{Width: time.Hour}, Layout{Counters: 64, Hists: 4, Expand: fourCells}, bins, 0)
	idx := []int{0, 5, 9, 33}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := int64(i) * int64(time.Millisecond)
		w.Advance(at)
		w.Add(at, idx, 1)
		w.Observe(at, 0, float64(i%5000), 1)
	}
}

// TestEncodeRestore rebuilds a window from its encoding and checks that it
// reads and slides exactly like the original.
func TestEncodeRestore(t *testing.T) {
	w := newWindow(t, time.Minute, 30*time.Second, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		at := int64(i) * sec / 5
		w.Advance(at)
		w.Add(at+int64(rng.IntN(20))*sec, []int{rng.IntN(2)}, int64(rng.IntN(5))-1)
		w.Observe(at, 0, rng.ExpFloat64()*100, 1)
	}
	data := w.AppendBinary(nil)
	c := newWindow(t, time.Minute, 30*time.Second, 0)
	r := snapfmt.NewReader(data)
	c.Restore(r)
	require.NoError(t, r.Err())
	require.Zero(t, r.Len())
	out1, out2 := make([]float64, 3), make([]float64, 3)
	for _, now := range []int64{100, 110, 125, 170} {
		w.Advance(now * sec)
		c.Advance(now * sec)
		require.Equal(t, w.Counter(0), c.Counter(0), "at %d", now)
		require.Equal(t, w.Counter(1), c.Counter(1), "at %d", now)
		require.Equal(t, w.Count(0), c.Count(0), "at %d", now)
		require.Equal(t, w.Quantiles(0, []float64{0.5, 0.9, 0.99}, out1), c.Quantiles(0, []float64{0.5, 0.9, 0.99}, out2))
		require.Equal(t, out1, out2, "at %d", now)
	}
	// Truncated input fails instead of half-restoring silently.
	for _, cut := range []int{1, len(data) / 2, len(data) - 1} {
		r := snapfmt.NewReader(data[:cut])
		newWindow(t, time.Minute, 30*time.Second, 0).Restore(r)
		require.Error(t, r.Err(), "cut at %d", cut)
	}
}
