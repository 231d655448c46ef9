package snapshot

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
	"github.com/helpdesk-kpi/aggregator/internal/snapfmt"
)

var (
	simSeeds = flag.Int("sim.seeds", 0, "seeds TestDeterministicSimulation runs (0: 2000; 800 under -race; 200 with -short)")
	simSeed  = flag.Int64("sim.seed", -1, "run TestDeterministicSimulation for this seed only, to reproduce a failure")
	simTrace = flag.Bool("sim.trace", false, "log every message of run B and compare it with run A after each one (use with -sim.seed)")
)

// TestDeterministicSimulation is a deterministic simulation of the core:
// the fold (package kpi) and its durability (this package), with no
// network, an injected clock and an in-memory file system that loses on a
// crash whatever was not made durable.
//
// For each seed it generates a stream (ticket lifecycles over several
// channels, priorities and teams; redeliveries; events arriving a few
// places late within the hold; events older than the longest window;
// poison messages; a moving clock) and folds it twice. Run A folds the
// whole stream without interruption. Run B is a service loop that
// snapshots through Manager and Dir at seeded points and crashes at seeded
// points: inside a snapshot (before the write, between write and fsync,
// between fsync and rename, between rename and directory sync, while
// pruning), right after one, between messages, while loading on restart,
// and before any snapshot exists. After each crash it restarts as the
// aggregator does (the newest good snapshot, or a fresh state) and replays
// the stream after it. Both runs see the same clock at the same stream
// position, so B must end exactly like A: same KPI snapshots at several
// times, same encoded state.
//
// A failure names its seed; rerun it alone, logging every step, with
//
//	go test -run TestDeterministicSimulation -sim.seed N -sim.trace ./internal/snapshot
//
// Seeds with a small MaxTracked make tickets opened at the same time
// compete for eviction: the simulation found that eviction once picked
// among them by memory slot, which a restore renumbers (seed 58).
func TestDeterministicSimulation(t *testing.T) {
	seeds := *simSeeds
	if seeds <= 0 {
		// About 8 ms a seed, or 30 ms under -race, on 2 cores.
		switch {
		case testing.Short():
			seeds = 200
		case raceBuild():
			seeds = 800
		default:
			seeds = 2000
		}
	}
	first, last := uint64(0), uint64(seeds)
	if *simSeed >= 0 {
		first, last = uint64(*simSeed), uint64(*simSeed)+1
	}
	var cov simCoverage
	// Seeds run in parallel chunks; each seed is sequential and
	// deterministic on its own.
	chunk := max(1, (last-first)/uint64(4*runtime.GOMAXPROCS(0)))
	t.Run("seeds", func(t *testing.T) {
		for lo := first; lo < last; lo += chunk {
			hi := min(lo+chunk, last)
			t.Run(fmt.Sprintf("%d-%d", lo, hi-1), func(t *testing.T) {
				t.Parallel()
				for seed := lo; seed < hi; seed++ {
					simulate(t, seed, &cov)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("%d seeds: %s", last-first, cov.String())
	if last-first >= 100 {
		// The plan generator must reach every crash point, or the test
		// proves less than it says.
		for i, name := range simCoverageNames {
			require.NotZero(t, cov.n[i].Load(), "no seed covered %q", name)
		}
	}
}

// raceBuild reports whether the test binary was built with -race.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// fault is where a crash interrupts a snapshot.
type fault uint8

const (
	noFault            fault = iota
	crashBeforeWrite         // the temporary file created, nothing written
	crashBeforeSync          // written, not fsynced
	crashBeforeRename        // fsynced, not renamed into place
	crashBeforeSyncDir       // renamed, the directory not synced
	crashWhilePruning        // durable; an older snapshot being removed
	crashAfterSave           // Save returned
	numFaults
)

// faultOp is the file system operation before which a fault crashes.
var faultOp = [numFaults]string{
	crashBeforeWrite:   "write",
	crashBeforeSync:    "sync",
	crashBeforeRename:  "rename",
	crashBeforeSyncDir: "syncdir",
	crashWhilePruning:  "remove",
}

var faultNames = [numFaults]string{
	noFault:            "snapshot without crash",
	crashBeforeWrite:   "crash before write",
	crashBeforeSync:    "crash between write and fsync",
	crashBeforeRename:  "crash between fsync and rename",
	crashBeforeSyncDir: "crash between rename and dir sync",
	crashWhilePruning:  "crash while pruning",
	crashAfterSave:     "crash after save",
}

// What the seeds covered, to check that every crash point was reached.
// The first numFaults indices count snapshots by fault (noFault: no crash).
const (
	covCrashBetweenMessages = int(numFaults) + iota
	covCrashWhileLoading
	covNeverSnapshotted
	covRestoredFromSnapshot
	covRenameSurvived // a snapshot not yet durable was found after the crash
	covTempLeftOver   // a temporary file survived the crash
	covRawEncodingDiffers
	covLate
	covDuplicates
	covOrphaned
	covEvicted
	covRejected
	covBreached
	numCoverage
)

var simCoverageNames = func() [numCoverage]string {
	var n [numCoverage]string
	copy(n[:], faultNames[:])
	n[covCrashBetweenMessages] = "crash between messages"
	n[covCrashWhileLoading] = "crash while loading"
	n[covNeverSnapshotted] = "restart with no snapshot"
	n[covRestoredFromSnapshot] = "restart from a snapshot"
	n[covRenameSurvived] = "undurable rename survived"
	n[covTempLeftOver] = "temporary file survived"
	n[covRawEncodingDiffers] = "encodings differ in ticket order only"
	n[covLate] = "late events"
	n[covDuplicates] = "duplicates"
	n[covOrphaned] = "orphaned events"
	n[covEvicted] = "evictions"
	n[covRejected] = "rejections"
	n[covBreached] = "SLA breaches"
	return n
}()

type simCoverage struct{ n [numCoverage]atomic.Int64 }

func (c *simCoverage) add(i int) { c.n[i].Add(1) }

func (c *simCoverage) String() string {
	var b strings.Builder
	for i, name := range simCoverageNames {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", name, c.n[i].Load())
	}
	return b.String()
}

// simMsg is one stream message: an event, or a poison message that the
// consumer rejects before it reaches the state.
type simMsg struct {
	ev     *events.Event // nil for poison
	reason events.Reason
	clock  int64 // the wall clock when the service handles it, Unix ns
}

// simPlan is everything one seed decides.
type simPlan struct {
	cfg   kpi.Config
	start int64    // the clock before the first message
	msgs  []simMsg // msgs[i] has stream sequence i+1
	// snapshots maps a stream sequence to the fault of the snapshot taken
	// right after applying it (the first time only: a replay takes it
	// again, without fault).
	snapshots map[uint64]fault
	// crashes holds the stream sequences after which the service
	// crashes (once); 0 is before the first message.
	crashes map[uint64]bool
}

// clockAt returns the clock of the state after applying sequence seq.
func (p *simPlan) clockAt(seq uint64) int64 {
	if seq == 0 {
		return p.start
	}
	return p.msgs[seq-1].clock
}

var simT0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).UnixNano()

// simGen generates the stream of one seed.
type simGen struct {
	rng    *rand.Rand
	grain  int64 // event times are multiples of it, for ties
	nextID int
}

func (g *simGen) chance(p float64) bool { return g.rng.Float64() < p }

// logUniform returns a duration between lo and hi, log-uniformly: mostly
// short, sometimes past an SLA target.
func (g *simGen) logUniform(lo, hi time.Duration) int64 {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return int64(math.Exp(l + g.rng.Float64()*(h-l)))
}

func (g *simGen) quantize(at int64) int64 { return at - ((at%g.grain)+g.grain)%g.grain }

func (g *simGen) event(typ events.Type, ticket string, at int64) *events.Event {
	g.nextID++
	id := fmt.Sprintf("evt-%08x-%d", g.rng.Uint32(), g.nextID)
	return &events.Event{ID: []byte(id), Type: typ, TicketID: []byte(ticket), OccurredAt: at, Replies: -1, HandleMillis: -1}
}

var (
	simChannels = []string{"email", "chat", "phone", "web", "social", "fax", ""} // fax: other; "": unknown
	simTeams    = []string{"billing", "tech", "sales", "vip", ""}
)

func (g *simGen) survey(ticket string, at int64) *events.Event {
	e := g.event(events.SurveyAnswered, ticket, at)
	e.Survey = events.SurveyKind(1 + g.rng.IntN(events.NumSurveyKinds-1))
	lo, hi := e.Survey.ScoreRange()
	e.Score = int8(lo + g.rng.IntN(hi-lo+1))
	return e
}

func (g *simGen) opening(ticket string, at int64) *events.Event {
	e := g.event(events.TicketOpened, ticket, at)
	e.Channel = []byte(simChannels[g.rng.IntN(len(simChannels))])
	e.Priority = events.Priority(g.rng.IntN(events.NumPriorities))
	e.Team = []byte(simTeams[g.rng.IntN(len(simTeams))])
	return e
}

func (g *simGen) resolution(ticket string, at int64) *events.Event {
	e := g.event(events.TicketResolved, ticket, at)
	if g.chance(0.7) {
		e.Replies = int32(g.rng.IntN(4))
	}
	if g.chance(0.5) {
		e.HandleMillis = g.rng.Int64N(int64(3 * time.Hour / time.Millisecond))
	}
	return e
}

// lifecycle returns the events of one ticket opened at opened, in the
// order they happen.
func (g *simGen) lifecycle(ticket string, opened int64) []*events.Event {
	var evs []*events.Event
	at := opened
	gap := func() int64 { return g.quantize(g.logUniform(time.Second, 48*time.Hour)) }
	if !g.chance(0.08) { // else its opening never comes: held, then orphaned
		evs = append(evs, g.opening(ticket, opened))
	}
	if g.chance(0.05) { // a later opening changes nothing
		evs = append(evs, g.opening(ticket, opened+gap()))
	}
	if g.chance(0.85) {
		at += gap()
		evs = append(evs, g.event(events.TicketFirstReply, ticket, at))
		if g.chance(0.2) { // not the first reply
			evs = append(evs, g.event(events.TicketFirstReply, ticket, at+gap()))
		}
	}
	if g.chance(0.75) {
		at += gap()
		evs = append(evs, g.resolution(ticket, at))
		if g.chance(0.3) {
			at += gap()
			evs = append(evs, g.event(events.TicketReopened, ticket, at))
			if g.chance(0.6) {
				at += gap()
				evs = append(evs, g.resolution(ticket, at))
			}
		}
	}
	if g.chance(0.4) {
		evs = append(evs, g.survey(ticket, at+gap()))
	}
	return evs
}

func (g *simGen) ticketID(k int) string {
	if g.chance(0.2) { // longer than kept inline
		return fmt.Sprintf("ticket-%08x-%04x-%04x-%012x", g.rng.Uint32(), k, g.rng.IntN(1<<16), g.rng.Uint64()>>16)
	}
	return fmt.Sprintf("TCK-%06d", 100_000+k)
}

// genPlan generates the stream, snapshots and crashes of one seed.
func genPlan(seed uint64) *simPlan {
	rng := rand.New(rand.NewPCG(seed, 0x51a))
	g := &simGen{rng: rng, grain: []int64{1, int64(time.Minute), int64(10 * time.Minute)}[rng.IntN(3)]}
	p := &simPlan{cfg: kpi.DefaultConfig(), snapshots: map[uint64]fault{}, crashes: map[uint64]bool{}}
	// Few team slots keep states small and admit "other"; small limits,
	// now and then, exercise eviction.
	p.cfg.MaxTeams = 3
	if g.chance(0.2) {
		p.cfg.Teams = []string{"billing", "tech"}
	}
	if g.chance(0.25) {
		p.cfg.MaxTracked = 3 + rng.IntN(15)
	}
	if g.chance(0.25) {
		p.cfg.MaxHeld = 1 + rng.IntN(6)
	}

	// Ticket lifecycles over a span of hours to beyond the retention of
	// resolved tickets; then event-time order.
	span := []time.Duration{3 * time.Hour, 2 * 24 * time.Hour, 12 * 24 * time.Hour}[rng.IntN(3)]
	var list []*events.Event
	for k := range 3 + rng.IntN(30) {
		opened := g.quantize(simT0 + rng.Int64N(int64(span)))
		list = append(list, g.lifecycle(g.ticketID(k), opened)...)
	}
	for range rng.IntN(4) {
		list = append(list, g.survey("", g.quantize(simT0+rng.Int64N(int64(span)))))
	}
	slices.SortStableFunc(list, func(a, b *events.Event) int { return cmp.Compare(a.OccurredAt, b.OccurredAt) })

	// Disorder: an event arrives a few places later, never after one
	// more than 50 minutes newer, so it stays within the hold.
	for i := range list {
		if !g.chance(0.12) {
			continue
		}
		j := i
		for j+1 < len(list) && j < i+4 && list[j+1].OccurredAt-list[i].OccurredAt < int64(50*time.Minute) {
			j++
		}
		if j > i {
			j = i + 1 + rng.IntN(j-i)
			e := list[i]
			copy(list[i:j], list[i+1:j+1])
			list[j] = e
		}
	}
	// Redeliveries: the same event again, soon or much later.
	for i := 0; i < len(list); i++ {
		if !g.chance(0.06) {
			continue
		}
		j := i + 1 + rng.IntN(10)
		if g.chance(0.2) {
			j = i + 1 + rng.IntN(len(list)-i)
		}
		list = slices.Insert(list, min(j, len(list)), list[i])
	}

	// Batches share one clock reading, taken when the batch is fetched:
	// a little before or after its newest event, and now and then much
	// later (an idle service, or one catching up).
	clock := simT0 - int64(time.Duration(rng.IntN(30))*time.Minute)
	p.start = clock
	maxAt := int64(math.MinInt64)
	for len(list) > 0 {
		n := min(len(list), 1+rng.IntN(8))
		batch := list[:n]
		list = list[n:]
		for _, e := range batch {
			maxAt = max(maxAt, e.OccurredAt)
		}
		lag := int64(time.Duration(rng.IntN(13*60)-3*60) * time.Second)
		if g.chance(0.03) {
			lag += g.logUniform(time.Hour, 10*24*time.Hour)
		}
		clock = max(clock, maxAt+lag)
		var msgs []simMsg
		for _, e := range batch {
			msgs = append(msgs, simMsg{ev: e, clock: clock})
		}
		if g.chance(0.08) {
			reasons := events.Reasons()
			msgs = slices.Insert(msgs, rng.IntN(len(msgs)+1), simMsg{reason: reasons[rng.IntN(len(reasons))], clock: clock})
		}
		if g.chance(0.06) {
			// Older than the longest window: an opening of a ticket not
			// seen yet, an event of a ticket of the stream, or a
			// survey without ticket.
			old := clock - int64(7*24*time.Hour) - g.logUniform(time.Minute, 3*24*time.Hour)
			var e *events.Event
			switch rng.IntN(3) {
			case 0:
				e = g.opening(fmt.Sprintf("OLD-%d", g.nextID), old)
			case 1:
				some := batch[rng.IntN(len(batch))]
				if len(some.TicketID) == 0 {
					e = g.survey("", old)
					break
				}
				e = g.event([]events.Type{events.TicketFirstReply, events.TicketResolved, events.SurveyAnswered}[rng.IntN(3)], string(some.TicketID), old)
				if e.Type == events.SurveyAnswered {
					e.Survey, e.Score = events.SurveyCSAT, 5
				}
			default:
				e = g.survey("", old)
			}
			msgs = slices.Insert(msgs, rng.IntN(len(msgs)+1), simMsg{ev: e, clock: clock})
		}
		p.msgs = append(p.msgs, msgs...)
	}

	// Snapshots, each with a fault, and crashes between messages.
	n := len(p.msgs)
	firstSnap := uint64(n)
	for range 1 + rng.IntN(5) {
		seq := uint64(1 + rng.IntN(n))
		f := fault(rng.IntN(int(numFaults) + 2))
		if f >= numFaults {
			f = noFault
		}
		p.snapshots[seq] = f
		firstSnap = min(firstSnap, seq)
	}
	for range rng.IntN(3) {
		p.crashes[uint64(rng.IntN(n+1))] = true
	}
	if g.chance(0.3) { // a crash before any snapshot exists
		p.crashes[uint64(rng.IntN(int(firstSnap)))] = true
	}
	return p
}

func handle(s *kpi.State, m *simMsg) {
	s.Advance(m.clock)
	if m.ev == nil {
		s.Reject(m.reason)
		return
	}
	s.Apply(m.ev)
}

// simulate runs one seed: A uninterrupted, B with snapshots and crashes,
// and compares them.
func simulate(t *testing.T, seed uint64, cov *simCoverage) {
	p := genPlan(seed)

	// Run A, recording the encoded state wherever B snapshots.
	a, err := kpi.New(p.cfg, p.start)
	require.NoError(t, err, "seed %d", seed)
	want := map[uint64][]byte{}
	for i := range p.msgs {
		handle(a, &p.msgs[i])
		if _, ok := p.snapshots[uint64(i+1)]; ok || *simTrace {
			want[uint64(i+1)] = a.AppendBinary(nil)
		}
	}

	b := &simService{t: t, seed: seed, plan: p, cov: cov, want: want,
		rng: rand.New(rand.NewPCG(seed, 0xb)), written: map[uint64][][]byte{}}
	b.fs = newMemFS(b.rng)
	if *simTrace {
		t.Logf("seed %d: %d messages; MaxTracked %d, MaxHeld %d, teams %q", seed, len(p.msgs), p.cfg.MaxTracked, p.cfg.MaxHeld, p.cfg.Teams)
	}
	b.run()

	end := p.clockAt(uint64(len(p.msgs)))
	for _, d := range []time.Duration{0, 20 * time.Minute, 30 * time.Hour, 9 * 24 * time.Hour} {
		now := end + int64(d)
		sa, sb := a.View(now), b.state.View(now)
		compareSnapshots(t, seed, fmt.Sprintf("end+%v", d), sa, sb)
		compareStates(t, seed, fmt.Sprintf("end+%v", d), a.AppendBinary(nil), b.state.AppendBinary(nil), cov)
		if d == 0 {
			for i, ok := range map[int]bool{
				covLate: sa.Late > 0, covDuplicates: sa.Duplicates > 0, covOrphaned: sa.Orphaned > 0,
				covEvicted: sa.Evicted != [kpi.NumEvictions]int64{}, covRejected: len(sa.Rejected) > 0,
				covBreached: breached(sa),
			} {
				if ok {
					cov.add(i)
				}
			}
		}
	}
}

func breached(s *kpi.View) bool {
	for _, byCell := range s.SLA.Outcomes {
		for _, o := range byCell {
			if o[1] > 0 {
				return true
			}
		}
	}
	return false
}

// simService is run B: the aggregator's loop over the stream, its
// snapshots and its restarts, on the in-memory file system.
type simService struct {
	t    *testing.T
	seed uint64
	plan *simPlan
	cov  *simCoverage
	rng  *rand.Rand
	fs   *memFS
	want map[uint64][]byte // run A's encoded state by sequence

	mgr   *Manager
	state *kpi.State // nil while crashed
	seq   uint64     // last applied stream sequence

	durable  uint64              // sequence of the last snapshot whose Save returned nil
	written  map[uint64][][]byte // states handed to Save, by sequence
	crashed  map[uint64]bool     // crash points used
	faulted  map[uint64]bool     // snapshot faults used
	restarts int
}

func (s *simService) run() {
	s.crashed, s.faulted = map[uint64]bool{}, map[uint64]bool{}
	s.start()
	n := uint64(len(s.plan.msgs))
	for {
		if s.plan.crashes[s.seq] && !s.crashed[s.seq] {
			s.crashed[s.seq] = true
			s.cov.add(covCrashBetweenMessages)
			s.crash()
			continue
		}
		if s.seq == n {
			return
		}
		handle(s.state, &s.plan.msgs[s.seq])
		s.seq++
		if *simTrace {
			m := &s.plan.msgs[s.seq-1]
			what := "poison: " + string(m.reason)
			if m.ev != nil {
				what = fmt.Sprintf("%s %s %q at %+.0fs", m.ev.ID, m.ev.Type, m.ev.TicketID, float64(m.ev.OccurredAt-simT0)/1e9)
			}
			s.t.Logf("seq %d, clock %+.0fs: %s", s.seq, float64(m.clock-simT0)/1e9, what)
			compareStates(s.t, s.seed, fmt.Sprintf("after seq %d", s.seq), s.want[s.seq], s.state.AppendBinary(nil), s.cov)
		}
		if f, ok := s.plan.snapshots[s.seq]; ok {
			if s.faulted[s.seq] {
				f = noFault
			}
			s.faulted[s.seq] = true
			s.save(f)
		}
	}
}

// save takes a snapshot, crashing where f says.
func (s *simService) save(f fault) {
	t, seed := s.t, s.seed
	data := s.state.AppendBinary(nil)
	compareStates(t, seed, fmt.Sprintf("snapshot at seq %d", s.seq), s.want[s.seq], data, s.cov)
	s.written[s.seq] = append(s.written[s.seq], data)
	s.fs.crashAt = faultOp[f]
	err := s.mgr.Save(ctx, Snapshot{Header: Header{Seq: s.seq, TakenAt: time.Unix(0, s.plan.clockAt(s.seq))}, State: data}, 0)
	s.fs.crashAt = ""
	if err == nil {
		s.durable = s.seq
	} else if !s.fs.down {
		t.Fatalf("seed %d: snapshot at seq %d failed without a crash: %v", seed, s.seq, err)
	}
	if f == crashAfterSave {
		require.NoError(t, err, "seed %d", seed)
		s.fs.down = true
	}
	if !s.fs.down {
		s.cov.add(int(noFault))
		return
	}
	s.cov.add(int(f))
	s.crash()
}

// crash throws the state away, loses what the file system did not make
// durable, and restarts.
func (s *simService) crash() {
	if *simTrace {
		s.t.Logf("crash after seq %d", s.seq)
	}
	s.state, s.mgr = nil, nil
	if s.fs.crash() {
		s.cov.add(covTempLeftOver)
	}
	s.restarts++
	s.start()
}

// start is the aggregator's start: the newest good snapshot and the
// stream after it, or a fresh state. It may crash again while loading.
func (s *simService) start() {
	t, seed := s.t, s.seed
	for attempt := 0; ; attempt++ {
		if attempt < 2 && s.restarts > 0 && s.rng.IntN(8) == 0 {
			s.fs.crashAt = []string{"readdir", "readfile", "remove"}[s.rng.IntN(3)]
		}
		dir, err := NewDir(simDir, s.fs)
		require.NoError(t, err, "seed %d", seed)
		mgr := NewManager(dir, zerolog.Nop(), prometheus.NewRegistry())
		snap, ok, err := mgr.Load(ctx)
		s.fs.crashAt = ""
		if s.fs.down {
			s.cov.add(covCrashWhileLoading)
			s.fs.crash()
			continue
		}
		require.NoError(t, err, "seed %d: load", seed)
		s.mgr = mgr
		if !ok {
			if s.durable != 0 {
				t.Fatalf("seed %d: no snapshot found after a crash, but the one at seq %d was saved", seed, s.durable)
			}
			if s.restarts > 0 {
				s.cov.add(covNeverSnapshotted)
			}
			s.state, err = kpi.New(s.plan.cfg, s.plan.start)
			require.NoError(t, err, "seed %d", seed)
			s.seq = 0
			if *simTrace {
				s.t.Logf("restart with no snapshot")
			}
			return
		}
		s.cov.add(covRestoredFromSnapshot)
		if snap.Seq < s.durable {
			t.Fatalf("seed %d: loaded the snapshot at seq %d, but the one at seq %d was saved", seed, snap.Seq, s.durable)
		}
		if snap.Seq > s.durable {
			s.cov.add(covRenameSurvived)
		}
		if !slices.ContainsFunc(s.written[snap.Seq], func(w []byte) bool { return bytes.Equal(w, snap.State) }) {
			t.Fatalf("seed %d: the snapshot loaded at seq %d holds a state never saved there", seed, snap.Seq)
		}
		if taken := snap.TakenAt.UnixNano(); taken != s.plan.clockAt(snap.Seq) ||
			snap.Seq < uint64(len(s.plan.msgs)) && taken > s.plan.clockAt(snap.Seq+1) {
			t.Fatalf("seed %d: snapshot at seq %d taken at %d: the replay would move the clock backwards", seed, snap.Seq, taken)
		}
		s.state, err = kpi.Restore(s.plan.cfg, snap.State)
		require.NoError(t, err, "seed %d: restore seq %d", seed, snap.Seq)
		if got := s.state.AppendBinary(nil); !bytes.Equal(got, snap.State) {
			t.Fatalf("seed %d: the state restored at seq %d encodes differently (%d bytes, was %d)", seed, snap.Seq, len(got), len(snap.State))
		}
		s.seq = snap.Seq
		if *simTrace {
			s.t.Logf("restart from the snapshot at seq %d", s.seq)
		}
		return
	}
}

const simDir = "/data/snapshots"

// compareSnapshots requires two KPI snapshots to be equal: windowed values
// and the backlog by labels, everything else as is.
func compareSnapshots(t *testing.T, seed uint64, when string, a, b *kpi.View) {
	t.Helper()
	require.Equal(t, simByCell(a), simByCell(b), "seed %d, %s: windows or backlog differ", seed, when)
	a2, b2 := *a, *b
	a2.Cells, a2.Windows, a2.Open = nil, nil, nil
	b2.Cells, b2.Windows, b2.Open = nil, nil, nil
	require.Equal(t, a2, b2, "seed %d, %s: SLA, totals, histograms or counters differ", seed, when)
}

// simByCell keys windowed values and the backlog by labels.
func simByCell(snap *kpi.View) map[string]map[kpi.Cell]kpi.Values {
	m := map[string]map[kpi.Cell]kpi.Values{"open": {}}
	for _, w := range snap.Windows {
		m[w.Name] = map[kpi.Cell]kpi.Values{}
		for i, c := range snap.Cells {
			m[w.Name][c] = w.Cells[i]
		}
	}
	for i, c := range snap.Cells {
		m["open"][c] = kpi.Values{Opened: snap.Open[i]}
	}
	return m
}

// compareStates requires two encoded states to be the same state. The
// encoding is deterministic except for the order of tracked tickets,
// which follows their slots: a restored state packs them, while one that
// ran on reuses the slots of forgotten tickets for new ones. So when the
// bytes differ, the ticket records are put in id order and compared again.
func compareStates(t *testing.T, seed uint64, when string, want, got []byte, cov *simCoverage) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	w, err := parseState(want)
	require.NoError(t, err, "seed %d, %s", seed, when)
	g, err := parseState(got)
	require.NoError(t, err, "seed %d, %s", seed, when)
	if bytes.Equal(w.canonical(), g.canonical()) {
		cov.add(covRawEncodingDiffers)
		return
	}
	var diff strings.Builder
	if !bytes.Equal(w.head, g.head) {
		diff.WriteString("\n  configuration, teams or windows differ")
	}
	wt, gt := w.byID(), g.byID()
	for _, id := range slices.Sorted(maps.Keys(wt)) {
		if wt[id] != gt[id] {
			fmt.Fprintf(&diff, "\n  ticket %s:\n    want %s\n    got  %s", id, describeTicket(wt[id]), describeTicket(gt[id]))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(gt)) {
		if _, ok := wt[id]; !ok {
			fmt.Fprintf(&diff, "\n  ticket %s:\n    want (not tracked)\n    got  %s", id, describeTicket(gt[id]))
		}
	}
	if !bytes.Equal(w.rest, g.rest) {
		diff.WriteString("\n  held events, remembered ids, counters, histograms or SLA totals differ")
	}
	t.Fatalf("seed %d, %s: encoded states differ (%d and %d bytes):%s", seed, when, len(want), len(got), diff.String())
}

// encodedState is an encoded kpi state cut around its tracked tickets.
type encodedState struct {
	head    []byte // configuration, teams, windows, ticket count
	tickets []encodedTicket
	rest    []byte
}

type encodedTicket struct{ id, raw []byte }

// canonical returns the encoding with the tickets in id order.
func (e *encodedState) canonical() []byte {
	tickets := slices.Clone(e.tickets)
	slices.SortFunc(tickets, func(x, y encodedTicket) int { return bytes.Compare(x.id, y.id) })
	out := slices.Clone(e.head)
	for _, tk := range tickets {
		out = append(out, tk.raw...)
	}
	return append(out, e.rest...)
}

func (e *encodedState) byID() map[string]string {
	m := map[string]string{}
	for _, tk := range e.tickets {
		m[string(tk.id)] = string(tk.raw)
	}
	return m
}

// parseState cuts an encoded kpi state. It mirrors the layout of
// kpi.State.AppendBinary up to the end of the tickets, and fails when that
// layout no longer parses.
func parseState(b []byte) (*encodedState, error) {
	r := snapfmt.NewReader(b)
	pos := func() int { return len(b) - r.Len() }
	r.Byte() // the state format
	// Configuration.
	windows := r.Count(2)
	for range windows {
		r.Bytes()
		r.Varint()
	}
	r.Varint() // clock skew
	for range r.Count(1) {
		r.Bytes() // channels
	}
	r.Uvarint()            // team limit
	r.Byte()               // flags
	r.Uvarint()            // agent limit
	r.Byte()               // flags
	r.U64()                // warning fraction
	for range r.Count(1) { // SLA policies
		r.Bytes()
		for range sla.NumKinds {
			for range events.NumPriorities {
				r.Varint()
			}
			r.Byte() // pause_on
		}
		for range r.Count(1) {
			r.Byte() // match priorities
		}
		for range 2 {
			for range r.Count(1) {
				r.Bytes() // match teams, channels
			}
		}
		r.Byte() // business hours or not
	}
	for range r.Count(1) {
		r.Bytes() // teams
	}
	for range r.Count(1) {
		r.Bytes() // agents
	}
	for range windows {
		r.Varint() // head
		for range r.Count(2) {
			r.Varint() // pane index
			for range r.Count(2) {
				r.Uvarint()
				r.Varint()
			}
			for range r.Count(4) {
				r.U32()
			}
		}
	}
	n := r.Count(20)
	e := &encodedState{head: b[:pos()]}
	for range n {
		start := pos()
		id := r.Bytes()
		readTicket(r, func(string, ...any) {})
		e.tickets = append(e.tickets, encodedTicket{id, b[start:pos()]})
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("the kpi state encoding no longer parses as this test expects (update parseState): %w", err)
	}
	e.rest = b[pos():]
	return e, nil
}

// readTicket reads one ticket record after its id, passing each field to
// out.
func readTicket(r *snapfmt.Reader, out func(format string, args ...any)) {
	for range r.Count(9) {
		out("[%+.0fs word=%x] ", float64(r.Varint()-simT0)/1e9, r.U64())
	}
	out("opening ch=%d pri=%d team=%d ", r.Byte(), r.Byte(), r.Byte())
	out("opened %+.0fs wait %d replies %d ", float64(r.Varint()-simT0)/1e9, r.Varint(), r.Uvarint())
	out("ch=%d pri=%d team=%d policy=%d status=%d flags=%d ", r.Byte(), r.Byte(), r.Byte(), r.Byte(), r.Byte(), r.Byte())
	for range 2 { // the reply and resolution clocks
		out("{at %d paused at %+.0fs paused %ds lead %ds ", r.Varint(), float64(r.Varint()-simT0)/1e9, r.Uvarint(), r.Uvarint())
		out("labels %d/%d/%d/%d kind %d state %d flags %d} ", r.Byte(), r.Byte(), r.Byte(), r.Byte(), r.Byte(), r.Byte(), r.Byte())
	}
}

// describeTicket renders a ticket record for a failure message: event
// times and deadlines relative to the simulation's start.
func describeTicket(raw string) string {
	if raw == "" {
		return "(not tracked)"
	}
	r := snapfmt.NewReader([]byte(raw))
	r.Bytes()
	var b strings.Builder
	readTicket(r, func(format string, args ...any) { fmt.Fprintf(&b, format, args...) })
	return b.String()
}

// errCrashed is what every file system call returns once the simulated
// process has died.
var errCrashed = errors.New("simulated crash")

// memFS is an in-memory FS that models durability. File contents are
// durable up to the last Sync; names (a creation, rename or removal) are
// durable after SyncDir of their directory. A crash keeps what was durable
// and, as a journaling file system may, some of what was not: a prefix of
// the pending name changes in their order, and a prefix of each file's
// unsynced bytes. Directories are durable as soon as made.
type memFS struct {
	rng     *rand.Rand
	dirs    map[string]bool
	live    map[string]*memFile // names as the running process sees them
	durable map[string]*memFile // names as a crash would leave them
	journal []nameChange        // name changes not yet durable, oldest first
	temps   int
	crashAt string // operation before which the process dies; "" for none
	down    bool   // the process has died: every call fails
}

type memFile struct {
	data   []byte
	synced int // data[:synced] is durable
}

type nameChange struct {
	from, to string // from "" for a creation, to "" for a removal
	file     *memFile
}

func (c nameChange) apply(names map[string]*memFile) {
	if c.from != "" {
		delete(names, c.from)
	}
	if c.to != "" {
		names[c.to] = c.file
	}
}

// dir is the directory changed; a rename stays within one.
func (c nameChange) dir() string { return filepath.Dir(cmp.Or(c.to, c.from)) }

func newMemFS(rng *rand.Rand) *memFS {
	return &memFS{rng: rng, dirs: map[string]bool{"/": true}, live: map[string]*memFile{}, durable: map[string]*memFile{}}
}

// op is called at the start of every operation: it fails once the process
// died, and kills it before the operation named by crashAt.
func (m *memFS) op(name string) error {
	if m.down {
		return errCrashed
	}
	if m.crashAt == name {
		m.down = true
		return errCrashed
	}
	return nil
}

// crash restarts the process on what survives; it reports whether a
// temporary file did.
func (m *memFS) crash() (tempSurvived bool) {
	keep := 0
	if m.rng.IntN(2) == 0 {
		keep = m.rng.IntN(len(m.journal) + 1)
	}
	names := maps.Clone(m.durable)
	for _, c := range m.journal[:keep] {
		c.apply(names)
	}
	for name, f := range names {
		f.data = f.data[:f.synced+m.rng.IntN(len(f.data)-f.synced+1)]
		f.synced = len(f.data)
		tempSurvived = tempSurvived || strings.HasPrefix(filepath.Base(name), ".tmp-")
	}
	m.live, m.durable, m.journal = names, maps.Clone(names), nil
	m.crashAt, m.down = "", false
	return tempSurvived
}

func (m *memFS) change(c nameChange) {
	c.apply(m.live)
	m.journal = append(m.journal, c)
}

func (m *memFS) CreateTemp(dir, pattern string) (File, error) {
	if err := m.op("create"); err != nil {
		return nil, err
	}
	if !m.dirs[dir] {
		return nil, &fs.PathError{Op: "createtemp", Path: dir, Err: fs.ErrNotExist}
	}
	m.temps++
	name := filepath.Join(dir, strings.Replace(pattern, "*", fmt.Sprint(m.temps), 1))
	f := &memFile{}
	m.change(nameChange{to: name, file: f})
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *memFS) Rename(from, to string) error {
	if err := m.op("rename"); err != nil {
		return err
	}
	f, ok := m.live[from]
	if !ok || filepath.Dir(from) != filepath.Dir(to) {
		return &fs.PathError{Op: "rename", Path: from, Err: fs.ErrNotExist}
	}
	m.change(nameChange{from: from, to: to, file: f})
	return nil
}

func (m *memFS) Remove(name string) error {
	if err := m.op("remove"); err != nil {
		return err
	}
	if _, ok := m.live[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	m.change(nameChange{from: name})
	return nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	if err := m.op("readfile"); err != nil {
		return nil, err
	}
	f, ok := m.live[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(f.data), nil
}

func (m *memFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if err := m.op("readdir"); err != nil {
		return nil, err
	}
	if !m.dirs[dir] {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	var entries []fs.DirEntry
	for _, name := range slices.Sorted(maps.Keys(m.live)) {
		if filepath.Dir(name) == dir {
			entries = append(entries, memEntry(filepath.Base(name)))
		}
	}
	return entries, nil
}

func (m *memFS) MkdirAll(path string, _ fs.FileMode) error {
	if err := m.op("mkdir"); err != nil {
		return err
	}
	for p := filepath.Clean(path); !m.dirs[p]; p = filepath.Dir(p) {
		m.dirs[p] = true
	}
	return nil
}

func (m *memFS) SyncDir(dir string) error {
	if err := m.op("syncdir"); err != nil {
		return err
	}
	pending := m.journal[:0]
	for _, c := range m.journal {
		if c.dir() == dir {
			c.apply(m.durable)
		} else {
			pending = append(pending, c)
		}
	}
	m.journal = pending
	return nil
}

// memHandle is a file open for writing.
type memHandle struct {
	fs     *memFS
	f      *memFile
	name   string
	closed bool
}

func (h *memHandle) Write(b []byte) (int, error) {
	if err := h.fs.op("write"); err != nil {
		return 0, err
	}
	if h.closed {
		return 0, fs.ErrClosed
	}
	h.f.data = append(h.f.data, b...)
	return len(b), nil
}

func (h *memHandle) Sync() error {
	if err := h.fs.op("sync"); err != nil {
		return err
	}
	h.f.synced = len(h.f.data)
	return nil
}

func (h *memHandle) Close() error {
	if err := h.fs.op("close"); err != nil {
		return err
	}
	h.closed = true
	return nil
}

func (h *memHandle) Name() string { return h.name }

// memEntry is a regular file in a directory listing.
type memEntry string

func (e memEntry) Name() string               { return string(e) }
func (e memEntry) IsDir() bool                { return false }
func (e memEntry) Type() fs.FileMode          { return 0 }
func (e memEntry) Info() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }
