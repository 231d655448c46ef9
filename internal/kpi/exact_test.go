package kpi

// Helpers that turn the cumulative record into exact values: counter
// minus corrections, which every arrival order must agree on (ledger.go).

// exactSLA returns st with Outcomes made exact and OutcomesCorrected
// cleared.
func exactSLA(st SLAStatus) SLAStatus {
	for k := range st.Outcomes {
		for p := range st.Outcomes[k] {
			for o := range st.Outcomes[k][p] {
				st.Outcomes[k][p][o] -= st.OutcomesCorrected[k][p][o]
			}
		}
	}
	st.OutcomesCorrected = [len(st.Outcomes)][len(st.Outcomes[0])][2]int64{}
	return st
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
