package kpi

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Helpers that turn the cumulative record into exact values: counter
// minus corrections, which every arrival order must agree on (ledger.go).

// exactSLA returns the SLA state of v keyed by labels (team cells come in
// stream order, which differs between arrival orders), with the outcomes
// made exact: counter minus corrections.
func exactSLA(v *View) map[string]int64 {
	m := map[string]int64{}
	st := &v.SLA
	for k := range sla.NumKinds {
		for i, c := range v.SLACells {
			key := fmt.Sprintf("%s %v", k, c)
			m["at_risk "+key] = st.AtRisk[k][i]
			m["breached_open "+key] = st.BreachedOpen[k][i]
			m["paused "+key] = st.Paused[k][i]
			if st.HasNextBreach[k][i] {
				m["next_breach "+key] = st.NextBreach[k][i]
			}
		}
		for _, w := range v.Windows {
			for i, c := range v.SLACells {
				m[fmt.Sprintf("window %s achieved %s %v", w.Name, k, c)] = w.SLA[i].Achieved[k]
				m[fmt.Sprintf("window %s breached %s %v", w.Name, k, c)] = w.SLA[i].Breached[k]
			}
		}
		for i, c := range st.OutcomeCells {
			for o, name := range []string{"achieved", "breached"} {
				if n := st.Outcomes[k][i][o] - st.OutcomesCorrected[k][i][o]; n != 0 {
					m[fmt.Sprintf("outcome %s %v %s", k, c, name)] = n
				}
			}
		}
	}
	return m
}

// exactOutcomes returns the exact outcomes of kind k at priority p.
func exactOutcomes(v *View, k sla.Kind, p events.Priority) [2]int64 {
	i := pc(p)
	return [2]int64{v.SLA.Outcomes[k][i][0] - v.SLA.OutcomesCorrected[k][i][0], v.SLA.Outcomes[k][i][1] - v.SLA.OutcomesCorrected[k][i][1]}
}

// exactTickets returns the exact counts of every combination that has any.
func exactTickets(ts []TicketTotals) []TicketTotals {
	var out []TicketTotals
	for _, t := range ts {
		e := TicketTotals{Channel: t.Channel, Priority: t.Priority, Team: t.Team,
			Opened: t.Opened - t.OpenedCorrected, Resolved: t.Resolved - t.ResolvedCorrected, Reopened: t.Reopened - t.ReopenedCorrected}
		if e.Opened != 0 || e.Resolved != 0 || e.Reopened != 0 {
			out = append(out, e)
		}
	}
	// Teams are indexed in stream order, which differs between orders.
	slices.SortFunc(out, func(a, b TicketTotals) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Team, b.Team))
	})
	return out
}

// exactSurveys returns the exact answer counts that are not zero.
func exactSurveys(ss []SurveyCount) []SurveyCount {
	var out []SurveyCount
	for _, s := range ss {
		if n := s.Count - s.Corrected; n != 0 {
			out = append(out, SurveyCount{Kind: s.Kind, Score: s.Score, Count: n})
		}
	}
	return out
}
