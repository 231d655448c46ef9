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

	AgentReplies, CustomerMessages int64
	NextReplies                    int64
	NextReplyMs                    int64
	NextReplyQuantiles             []float64
}

// NextReplyAvg returns the mean next reply time in seconds.
func (v *Values) NextReplyAvg() (float64, bool) { return ratio(v.NextReplyMs, v.NextReplies*1000) }

// SLACell names one SLA breakdown series: all four labels "all" for the
// overall value, or exactly one of them set to a real value.
type SLACell struct {
	Policy, Priority, Channel, Team string
}

// SLAValues are the windowed SLA outcomes of one SLA cell by sla.Kind:
// achieved counted when met, breached at the deadline.
type SLAValues struct {
	Achieved, Breached [sla.NumKinds]int64
}

// Compliance returns achieved ÷ (achieved + breached) for kind k.
func (v *SLAValues) Compliance(k sla.Kind) (float64, bool) {
	return ratio(v.Achieved[k], v.Achieved[k]+v.Breached[k])
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

// WindowValues holds one window's values, one per View.Cells entry, its
// SLA outcomes, one per View.SLACells entry, and the per-agent values, one
// per View.Agents entry.
type WindowValues struct {
	Name   string
	Cells  []Values
	SLA    []SLAValues
	Agents []AgentValues
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
	// OpenByStatus is the backlog by events.Status, one per Cells entry.
	OpenByStatus [events.NumStatuses][]int64
	SLACells     []SLACell
	// Agents are the agent label values of the per-agent series; nil
	// when they are off.
	Agents []string

	Tickets             []TicketTotals // non-zero combinations only
	FirstReplyDurations []DurationHistogram
	ResolutionDurations []DurationHistogram
	NextReplyDurations  []DurationHistogram
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
// View.SLACells entry.
type SLAStatus struct {
	AtRisk, BreachedOpen, Paused [sla.NumKinds][]int64
	// NextBreach is the earliest upcoming deadline of a running clock
	// (Unix ns); HasNextBreach says whether there is one.
	NextBreach    [sla.NumKinds][]int64
	HasNextBreach [sla.NumKinds][]bool
	// Outcomes are cumulative, from the ledger, and never decrease: by
	// OutcomeCells entry, [kind][i][0 achieved, 1 breached].
	// OutcomesCorrected counts the outcomes that later events took back
	// (a breach undone by a reply that arrived late, say); the exact
	// count is the difference.
	OutcomeCells      []OutcomeCell
	Outcomes          [sla.NumKinds][][2]int64
	OutcomesCorrected [sla.NumKinds][][2]int64
}

// OutcomeCell names one series of helpdesk_sla_outcomes_total: the
// breakdown rule over policy, priority and team (the counters have no
// channel).
type OutcomeCell struct {
	Policy, Priority, Team string
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
	nc := d.numCells()
	for _, c := range cells {
		var total int64
		for st := range events.NumStatuses {
			n := s.open[st*nc+c]
			snap.OpenByStatus[st] = append(snap.OpenByStatus[st], n)
			total += n
		}
		snap.Open = append(snap.Open, total)
	}
	slaCells := s.viewSLACells(snap)
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
				AgentReplies: ctr(cAgentReplies), CustomerMessages: ctr(cCustomerMessages),
				NextReplies: ctr(cNextReplies), NextReplyMs: ctr(cNextReplyMs),
			}
			v.FirstReplyQuantiles = quantiles(w.Quantiles, c*numHists+hFirstReply, s.cfg.Quantiles)
			v.ResolutionQuantiles = quantiles(w.Quantiles, c*numHists+hResolution, s.cfg.Quantiles)
			v.NextReplyQuantiles = quantiles(w.Quantiles, c*numHists+hNextReply, s.cfg.Quantiles)
			wv.Cells[i] = v
		}
		wv.SLA = make([]SLAValues, len(slaCells))
		for i, c := range slaCells {
			v := &wv.SLA[i]
			for k := range sla.NumKinds {
				v.Achieved[k] = w.Counter(s.slaBase() + c*slaPerCell + int(k)*numOutcomes + achieved)
				v.Breached[k] = w.Counter(s.slaBase() + c*slaPerCell + int(k)*numOutcomes + breached)
			}
		}
		snap.Windows = append(snap.Windows, wv)
	}
	s.viewTotals(snap)
	s.viewSLA(snap, slaCells, now)
	s.viewAgents(snap)
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
			for h, dst := range []*[]DurationHistogram{&snap.FirstReplyDurations, &snap.ResolutionDurations, &snap.NextReplyDurations} {
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

// viewSLACells lists the exported SLA cells in snap.SLACells and returns
// their indices: the overall value, every priority, channel, admitted
// team and policy.
func (s *State) viewSLACells(snap *View) []int {
	d := s.dims
	var cells []int
	add := func(l slaLabels, dim int, cell SLACell) {
		cells = append(cells, d.slaCells(l)[dim])
		snap.SLACells = append(snap.SLACells, cell)
	}
	add(slaLabels{}, 0, SLACell{LabelAll, LabelAll, LabelAll, LabelAll})
	for p := range events.Priority(events.NumPriorities) {
		add(slaLabels{pri: uint8(p)}, 1, SLACell{LabelAll, p.String(), LabelAll, LabelAll})
	}
	for i, ch := range d.channels {
		add(slaLabels{ch: uint8(i)}, 2, SLACell{LabelAll, LabelAll, ch, LabelAll})
	}
	for i, t := range d.teams {
		add(slaLabels{team: uint8(i)}, 3, SLACell{LabelAll, LabelAll, LabelAll, t})
	}
	for i, p := range s.sla.cfg.Policies {
		add(slaLabels{policy: uint8(i)}, 4, SLACell{p.Name, LabelAll, LabelAll, LabelAll})
	}
	return cells
}

// viewSLA fills snap.SLA for the SLA cells.
func (s *State) viewSLA(snap *View, cells []int, now int64) {
	st := &snap.SLA
	next := s.nextBreaches(now)
	for k := range sla.NumKinds {
		for _, c := range cells {
			st.AtRisk[k] = append(st.AtRisk[k], s.sla.atRisk[k][c])
			st.BreachedOpen[k] = append(st.BreachedOpen[k], s.sla.breachedOpen[k][c])
			st.Paused[k] = append(st.Paused[k], s.sla.paused[k][c])
			st.NextBreach[k] = append(st.NextBreach[k], next[k][c])
			st.HasNextBreach[k] = append(st.HasNextBreach[k], next[k][c] != maxTime)
		}
	}
	for i, cell := range snap.SLACells {
		if cell.Channel != LabelAll {
			continue
		}
		st.OutcomeCells = append(st.OutcomeCells, OutcomeCell{cell.Policy, cell.Priority, cell.Team})
		for k := range sla.NumKinds {
			var n, c [2]int64
			for o := range numOutcomes {
				slot := s.led.outcomeSlot(k, cells[i], o)
				n[o], c[o] = s.led.counts[slot], s.led.corrections[slot]
			}
			st.Outcomes[k] = append(st.Outcomes[k], n)
			st.OutcomesCorrected[k] = append(st.OutcomesCorrected[k], c)
		}
	}
}
