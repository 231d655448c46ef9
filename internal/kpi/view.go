package kpi

import (
	"maps"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Cell names one breakdown series: all three labels "all" for the overall
// value, or exactly one of them set to a real value.
type Cell struct {
	Channel, Priority, Team string
}

// Values are the windowed aggregates of one cell. Ratios and averages are
// methods, so every reader derives them the same way.
type Values struct {
	Opened, Resolved, Reopened int64

	FirstReplies        int64
	FirstReplyMs        int64     // sum of first reply times
	FirstReplyQuantiles []float64 // seconds, one per View.Quantiles; nil when no samples
	Resolutions         int64
	ResolutionMs        int64
	ResolutionQuantiles []float64

	FCRResolutions int64 // resolutions carrying "replies"
	FCROneReply    int64 // … of which with exactly one reply
	Handled        int64 // resolutions carrying "handle_seconds"
	HandleMs       int64

	CSATResponses, CSATSatisfied, CSATScoreSum int64
	NPSResponses, NPSPromoters, NPSDetractors  int64
	CESResponses, CESScoreSum, CESEasy         int64

	// SLA outcomes by sla.Kind: achieved counted when met, breached at
	// the deadline.
	SLAAchieved, SLABreached [sla.NumKinds]int64
}

// SLACompliance returns achieved ÷ (achieved + breached) for kind k.
func (v *Values) SLACompliance(k sla.Kind) (float64, bool) {
	return ratio(v.SLAAchieved[k], v.SLAAchieved[k]+v.SLABreached[k])
}

func ratio(num, den int64) (float64, bool) {
	if den == 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// FirstReplyAvg returns the mean first reply time in seconds.
func (v *Values) FirstReplyAvg() (float64, bool) { return ratio(v.FirstReplyMs, v.FirstReplies*1000) }

// ResolutionAvg returns the mean resolution time in seconds.
func (v *Values) ResolutionAvg() (float64, bool) { return ratio(v.ResolutionMs, v.Resolutions*1000) }

// HandleAvg returns the mean handling time in seconds.
func (v *Values) HandleAvg() (float64, bool) { return ratio(v.HandleMs, v.Handled*1000) }

// FCRRatio returns resolutions with exactly one reply ÷ resolutions
// carrying a reply count.
func (v *Values) FCRRatio() (float64, bool) { return ratio(v.FCROneReply, v.FCRResolutions) }

// ReopenRatio returns reopened ÷ resolved.
func (v *Values) ReopenRatio() (float64, bool) { return ratio(v.Reopened, v.Resolved) }

// CSATRatio returns the share of CSAT answers scoring 4 or 5.
func (v *Values) CSATRatio() (float64, bool) { return ratio(v.CSATSatisfied, v.CSATResponses) }

// CSATAvg returns the mean CSAT score.
func (v *Values) CSATAvg() (float64, bool) { return ratio(v.CSATScoreSum, v.CSATResponses) }

// NPS returns 100 × (promoters − detractors) ÷ answers.
func (v *Values) NPS() (float64, bool) {
	return ratio(100*(v.NPSPromoters-v.NPSDetractors), v.NPSResponses)
}

// CESAvg returns the mean CES score.
func (v *Values) CESAvg() (float64, bool) { return ratio(v.CESScoreSum, v.CESResponses) }

// CESEasyRatio returns the share of CES answers scoring 5 to 7.
func (v *Values) CESEasyRatio() (float64, bool) { return ratio(v.CESEasy, v.CESResponses) }

// WindowValues holds one window's values, one per View.Cells entry.
type WindowValues struct {
	Name  string
	Cells []Values
}

// TicketTotals are the cumulative ticket counts of one channel × priority ×
// team combination, from the ledger: they never decrease. The *Corrected
// fields count what later events took back; the exact count, as an
// in-order delivery gives it, is the difference.
type TicketTotals struct {
	Channel, Priority, Team                               string
	Opened, Resolved, Reopened                            int64
	OpenedCorrected, ResolvedCorrected, ReopenedCorrected int64
}

// DurationHistogram is a cumulative histogram of first reply or resolution
// times of one channel × priority combination. Buckets are cumulative counts
// for the bounds of DurationBuckets; Native are the counts of native
// histogram buckets (schema NativeSchema) by index, NativeZero the count of
// the zero bucket.
type DurationHistogram struct {
	Channel, Priority string
	Buckets           []uint64
	Native            map[int]int64
	NativeZero        uint64
	Count             uint64
	SumSeconds        float64
	// Corrected counts the samples later events took back; they stay in
	// the histogram, which never decreases.
	Corrected uint64
}

// SurveyCount is the cumulative number of survey answers of one kind and
// score.
type SurveyCount struct {
	Kind      string
	Score     int
	Count     int64
	Corrected int64 // answers taken back by later events
}

// View is an immutable copy of every KPI value at one moment.
type View struct {
	Time      int64 // now, Unix ns
	Quantiles []float64
	Cells     []Cell
	Windows   []WindowValues
	Open      []int64 // open tickets, one per Cells entry

	Tickets             []TicketTotals // non-zero combinations only
	FirstReplyDurations []DurationHistogram
	ResolutionDurations []DurationHistogram
	Surveys             []SurveyCount // non-zero only

	Applied    [events.NumTypes]int64 // by events.Type
	Rejected   map[events.Reason]int64
	Duplicates int64
	Late       int64
	Orphaned   int64
	Expired    int64 // events beyond the id memory for an untracked ticket
	// LastEventTime is the newest applied event time (Unix ns); HasEvents
	// is false until an event is applied.
	LastEventTime int64
	HasEvents     bool

	TrackedTickets int
	HeldEvents     int
	// Evicted counts what the memory bounds pushed out, by EvictedTracked
	// and EvictedHeld.
	Evicted [NumEvictions]int64
	// LabelOverflow counts the openings whose channel or team was
	// replaced by "other", by OverflowChannel and OverflowTeam.
	LabelOverflow [numOverflows]int64

	SLA SLAStatus

	// AppliedSeq and PendingMessages say where the state stands in the
	// stream: the last applied stream sequence and the messages after it.
	// The state knows nothing of streams; its owner fills these in.
	AppliedSeq      uint64
	PendingMessages uint64
	// CaughtUp is true once the owner has applied everything the stream
	// held when it started (after a restore: the replay after the
	// snapshot). Until then the cumulative values may lie below what an
	// earlier process served, so readers must not publish them.
	CaughtUp bool
}

// SLAStatus is the live SLA state of open tickets, by sla.Kind and
// events.Priority.
type SLAStatus struct {
	AtRisk       [sla.NumKinds][events.NumPriorities]int64
	BreachedOpen [sla.NumKinds][events.NumPriorities]int64
	// NextBreach is the earliest upcoming deadline of an unmet clock
	// (Unix ns); HasNextBreach says whether there is one.
	NextBreach    [sla.NumKinds][events.NumPriorities]int64
	HasNextBreach [sla.NumKinds][events.NumPriorities]bool
	// Outcomes are cumulative, from the ledger, and never decrease:
	// [kind][priority][0 achieved, 1 breached]. OutcomesCorrected counts
	// the outcomes that later events took back (a breach undone by a reply
	// that arrived late, say); the exact count is the difference.
	Outcomes          [sla.NumKinds][events.NumPriorities][2]int64
	OutcomesCorrected [sla.NumKinds][events.NumPriorities][2]int64
}

// Tracked returns the number of tickets tracked.
func (s *State) Tracked() int { return s.tracked }

// View returns the current values with the windows ending at now.
func (s *State) View(now int64) *View {
	s.Advance(now)
	d := s.dims
	snap := &View{
		Time:           now,
		Quantiles:      append([]float64(nil), s.cfg.Quantiles...),
		Rejected:       maps.Clone(s.rejected),
		Applied:        s.applied,
		Duplicates:     s.duplicates,
		Late:           s.late,
		Orphaned:       s.orphaned,
		Expired:        s.expired,
		LastEventTime:  s.lastEvent,
		HasEvents:      s.lastEvent != minTime,
		TrackedTickets: s.tracked,
		HeldEvents:     s.heldCount,
		Evicted:        s.evicted,
		LabelOverflow:  s.dims.overflow,
	}
	// Exported cells: overall, every channel, every priority, admitted teams.
	var cells []int
	add := func(c int, cell Cell) {
		cells = append(cells, c)
		snap.Cells = append(snap.Cells, cell)
	}
	add(0, Cell{LabelAll, LabelAll, LabelAll})
	for i, ch := range d.channels {
		add(1+i, Cell{ch, LabelAll, LabelAll})
	}
	for p := range numPri {
		add(1+len(d.channels)+p, Cell{LabelAll, priorityLabel(p), LabelAll})
	}
	for i, t := range d.teams {
		add(1+len(d.channels)+numPri+i, Cell{LabelAll, LabelAll, t})
	}
	for _, c := range cells {
		snap.Open = append(snap.Open, s.open[c])
	}
	for wi, w := range s.wins {
		wv := WindowValues{Name: s.cfg.Windows[wi].Name, Cells: make([]Values, len(cells))}
		for i, c := range cells {
			ctr := func(k int) int64 { return w.Counter(c*numCounters + k) }
			v := Values{
				Opened: ctr(cOpened), Resolved: ctr(cResolved), Reopened: ctr(cReopened),
				FirstReplies: ctr(cFirstReplies), FirstReplyMs: ctr(cFirstReplyMs),
				Resolutions: ctr(cResolutions), ResolutionMs: ctr(cResolutionMs),
				FCRResolutions: ctr(cFCRResolutions), FCROneReply: ctr(cFCROneReply),
				Handled: ctr(cHandled), HandleMs: ctr(cHandleMs),
				CSATResponses: ctr(cCSAT), CSATSatisfied: ctr(cCSATSatisfied), CSATScoreSum: ctr(cCSATScore),
				NPSResponses: ctr(cNPS), NPSPromoters: ctr(cNPSPromoters), NPSDetractors: ctr(cNPSDetractors),
				CESResponses: ctr(cCES), CESScoreSum: ctr(cCESScore), CESEasy: ctr(cCESEasy),
			}
			for k := range sla.NumKinds {
				v.SLAAchieved[k] = ctr(cSLA + int(k)*numOutcomes + achieved)
				v.SLABreached[k] = ctr(cSLA + int(k)*numOutcomes + breached)
			}
			v.FirstReplyQuantiles = quantiles(w.Quantiles, c*numHists+hFirstReply, s.cfg.Quantiles)
			v.ResolutionQuantiles = quantiles(w.Quantiles, c*numHists+hResolution, s.cfg.Quantiles)
			wv.Cells[i] = v
		}
		snap.Windows = append(snap.Windows, wv)
	}
	s.viewTotals(snap)
	st := &snap.SLA
	st.AtRisk, st.BreachedOpen = s.sla.atRisk, s.sla.breachedOpen
	for k := range sla.NumKinds {
		for p := range events.NumPriorities {
			for o := range numOutcomes {
				i := s.led.outcomeSlot(k, uint8(p), o)
				st.Outcomes[k][p][o], st.OutcomesCorrected[k][p][o] = s.led.counts[i], s.led.corrections[i]
			}
		}
		for p := range events.Priority(events.NumPriorities) {
			st.NextBreach[k][p], st.HasNextBreach[k][p] = s.nextBreach(k, p, now)
		}
	}
	return snap
}

func quantiles(f func(int, []float64, []float64) bool, h int, qs []float64) []float64 {
	out := make([]float64, len(qs))
	if !f(h, qs, out) {
		return nil
	}
	return out
}

func (s *State) viewTotals(snap *View) {
	d := s.dims
	for ch, chName := range d.channels {
		for pri := range numPri {
			for team, teamName := range d.teams {
				bd := breakdown{ch: uint8(ch), pri: uint8(pri), team: uint8(team)}
				l, i := &s.led, s.combo(bd)
				cnt := func(total int) int64 { return l.counts[l.ticketSlot(total, i)] }
				cor := func(total int) int64 { return l.corrections[l.ticketSlot(total, i)] }
				t := TicketTotals{chName, priorityLabel(pri), teamName, cnt(totalOpened), cnt(totalResolved), cnt(totalReopened),
					cor(totalOpened), cor(totalResolved), cor(totalReopened)}
				if t.Opened != 0 || t.Resolved != 0 || t.Reopened != 0 {
					snap.Tickets = append(snap.Tickets, t)
				}
			}
		}
		for pri := range events.NumPriorities {
			for h, dst := range []*[]DurationHistogram{&snap.FirstReplyDurations, &snap.ResolutionDurations} {
				src := &s.led.hists[h][ch*events.NumPriorities+pri]
				if src.count == 0 {
					continue
				}
				dh := DurationHistogram{Channel: chName, Priority: priorityLabel(pri), Count: uint64(src.count),
					SumSeconds: float64(src.sumMs) / 1000, Native: maps.Clone(src.native), NativeZero: uint64(src.zero),
					Corrected: uint64(s.led.histCorrections[h][ch*events.NumPriorities+pri])}
				var cum int64
				for _, n := range src.buckets[:numDurationBuckets] {
					cum += n
					dh.Buckets = append(dh.Buckets, uint64(cum))
				}
				*dst = append(*dst, dh)
			}
		}
	}
	for kind := range events.NumSurveyKinds {
		for score := range 11 {
			i := s.led.surveySlot(events.SurveyKind(kind), score)
			if n := s.led.counts[i]; n != 0 {
				snap.Surveys = append(snap.Surveys, SurveyCount{events.SurveyKind(kind).String(), score, n, s.led.corrections[i]})
			}
		}
	}
}
