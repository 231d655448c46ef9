package kpi

// Per-agent series (contract section 3, v2): opt-in, with their own
// names, so they never multiply the breakdown series. A sample's agent is
// the agent_id of the event that took it: the first reply (either event
// type) or the resolution; a survey's is that of the resolution before it.
// An SLA clock counts for the agent of the event that met it, achieved or
// breached (late); a clock still unmet has no agent and counts for none.

import "github.com/helpdesk-kpi/aggregator/internal/sla"

// Counters per agent cell, in a window pane after the SLA counters.
const (
	aFirstReplies = iota
	aFirstReplyMs
	aResolved
	aCSAT
	aCSATSatisfied
	aSLA             // sla.NumKinds × numOutcomes
	numAgentCounters = aSLA + int(sla.NumKinds)*numOutcomes
)

// agents turns agent ids into bounded label indices: 0 is "unknown" (no
// agent_id), 1 "other" (outside the allow-list or beyond the limit), then
// the allow-list or the first max agents in stream order.
type agents struct {
	names []string
	ix    map[string]uint8
	max   int  // agents beyond unknown and other; 0: per-agent series off
	fixed bool // names come from configuration
}

func newAgents(allow []string, limit int) *agents {
	a := &agents{names: []string{LabelUnknown, LabelOther}, ix: map[string]uint8{}, max: limit, fixed: len(allow) > 0}
	for _, n := range allow {
		addLabel(&a.names, a.ix, n)
	}
	if a.fixed {
		a.max = len(a.names) - 2
	}
	return a
}

// on reports whether per-agent series are kept.
func (a *agents) on() bool { return a.max > 0 }

// index returns the label index of agent id b, admitting it while there
// is room.
func (a *agents) index(b []byte) uint8 {
	if !a.on() {
		return idxUnknown
	}
	i, _ := admit(&a.names, a.ix, b, !a.fixed && len(a.names)-2 < a.max)
	return i
}

// numCells is the number of agent cells in a window pane.
func (a *agents) numCells() int {
	if !a.on() {
		return 0
	}
	return 2 + a.max
}

// agentBase is the index of the first agent counter in a window pane.
func (s *State) agentBase() int { return s.slaBase() + s.dims.numSLACells()*slaPerCell }

// agentCount adds delta to agent counter k of agent a at time at.
func (s *State) agentCount(at int64, a uint8, k int, delta int64) {
	if !s.agents.on() {
		return
	}
	idx := [1]int{s.agentBase() + int(a)*numAgentCounters + k}
	for _, w := range s.wins {
		w.Add(at, idx[:], delta)
	}
}

// AgentValues are the windowed per-agent aggregates of one agent.
type AgentValues struct {
	FirstReplies, FirstReplyMs   int64
	Resolved                     int64
	CSATResponses, CSATSatisfied int64
	// SLAAchieved and SLABreached count the clocks the agent met, by
	// sla.Kind: in time, or late.
	SLAAchieved, SLABreached [sla.NumKinds]int64
}

// FirstReplyAvg returns the agent's mean first reply time in seconds.
func (v *AgentValues) FirstReplyAvg() (float64, bool) {
	return ratio(v.FirstReplyMs, v.FirstReplies*1000)
}

// CSATRatio returns the share of the agent's CSAT answers scoring 4 or 5.
func (v *AgentValues) CSATRatio() (float64, bool) { return ratio(v.CSATSatisfied, v.CSATResponses) }

// SLACompliance returns achieved ÷ (achieved + breached) for kind k.
func (v *AgentValues) SLACompliance(k sla.Kind) (float64, bool) {
	return ratio(v.SLAAchieved[k], v.SLAAchieved[k]+v.SLABreached[k])
}

// viewAgents fills the per-agent values of every window.
func (s *State) viewAgents(snap *View) {
	if !s.agents.on() {
		return
	}
	snap.Agents = append([]string(nil), s.agents.names...)
	for wi, w := range s.wins {
		vs := make([]AgentValues, len(snap.Agents))
		for a := range vs {
			ctr := func(k int) int64 { return w.Counter(s.agentBase() + a*numAgentCounters + k) }
			v := AgentValues{FirstReplies: ctr(aFirstReplies), FirstReplyMs: ctr(aFirstReplyMs), Resolved: ctr(aResolved),
				CSATResponses: ctr(aCSAT), CSATSatisfied: ctr(aCSATSatisfied)}
			for k := range sla.NumKinds {
				v.SLAAchieved[k] = ctr(aSLA + int(k)*numOutcomes + achieved)
				v.SLABreached[k] = ctr(aSLA + int(k)*numOutcomes + breached)
			}
			vs[a] = v
		}
		snap.Windows[wi].Agents = vs
	}
}
