package kpi

// The catalog lives here, beside Values, because every reader of a
// View already imports this package and this package imports none of
// them: the metrics collector renders the catalog as gauges and the JSON
// API as the keys of /api/v1/kpis, so a new windowed KPI is one line in
// Catalog and a field or method of Values, and both readers follow without
// an import cycle. It is plain data: nothing here knows Prometheus or JSON.

// ValueKind says how a windowed KPI is read from Values and when it is
// exported.
type ValueKind uint8

// The kinds of windowed KPIs.
const (
	// CountValue is a count: always exported, 0 when nothing happened.
	CountValue ValueKind = iota
	// RatioValue is a ratio or an average: omitted while it has no
	// samples.
	RatioValue
	// QuantileValues are one value per View.Quantiles entry, omitted
	// while there is no sample.
	QuantileValues
)

// Windowed is one KPI of every window and breakdown cell, read from the
// cell's Values. Exactly the reader of its Kind is set.
type Windowed struct {
	// Name is the metric name, helpdesk_ and the name in snake case; the
	// JSON API's key is the name without the helpdesk_ prefix.
	Name string
	// Help is the metric's help text.
	Help string
	// Kind says which reader is set and when the KPI is exported.
	Kind ValueKind
	// Count reads a CountValue.
	Count func(v *Values) int64
	// Ratio reads a RatioValue; ok is false while it has no samples.
	Ratio func(v *Values) (x float64, ok bool)
	// Quantiles reads QuantileValues: one per View.Quantiles entry,
	// nil while there is no sample.
	Quantiles func(v *Values) []float64
}

func count(name, help string, f func(v *Values) int64) Windowed {
	return Windowed{Name: name, Help: help, Kind: CountValue, Count: f}
}

func ratioOf(name, help string, f func(v *Values) (float64, bool)) Windowed {
	return Windowed{Name: name, Help: help, Kind: RatioValue, Ratio: f}
}

func quantilesOf(name, help string, f func(v *Values) []float64) Windowed {
	return Windowed{Name: name, Help: help, Kind: QuantileValues, Quantiles: f}
}

// Catalog returns the windowed KPIs, in the order the JSON API lists them
// in a series (the order of /metrics is by name). Each call returns a new
// slice, so no caller can change another's.
func Catalog() []Windowed {
	return []Windowed{
		count("helpdesk_tickets_opened", "Tickets opened in the window.", func(v *Values) int64 { return v.Opened }),
		count("helpdesk_tickets_resolved", "Ticket resolutions in the window.", func(v *Values) int64 { return v.Resolved }),
		count("helpdesk_tickets_reopened", "Ticket reopenings in the window.", func(v *Values) int64 { return v.Reopened }),
		count("helpdesk_first_replies", "First replies in the window (first reply time samples).", func(v *Values) int64 { return v.FirstReplies }),
		quantilesOf("helpdesk_first_reply_time_seconds", "First reply time quantile in the window (within 1% relative error).", func(v *Values) []float64 { return v.FirstReplyQuantiles }),
		ratioOf("helpdesk_first_reply_time_avg_seconds", "Mean first reply time in the window.", (*Values).FirstReplyAvg),
		quantilesOf("helpdesk_resolution_time_seconds", "Resolution time quantile in the window (within 1% relative error).", func(v *Values) []float64 { return v.ResolutionQuantiles }),
		ratioOf("helpdesk_resolution_time_avg_seconds", "Mean resolution time (resolved minus opened) in the window.", (*Values).ResolutionAvg),
		ratioOf("helpdesk_fcr_ratio", "First contact resolution: resolutions with exactly one reply over resolutions reporting replies.", (*Values).FCRRatio),
		ratioOf("helpdesk_reopen_ratio", "Reopenings over resolutions in the window.", (*Values).ReopenRatio),
		ratioOf("helpdesk_handle_time_avg_seconds", "Mean agent handling time of resolutions reporting it.", (*Values).HandleAvg),
		count("helpdesk_csat_responses", "CSAT answers in the window.", func(v *Values) int64 { return v.CSATResponses }),
		count("helpdesk_csat_satisfied_responses", "CSAT answers scoring 4 or 5.", func(v *Values) int64 { return v.CSATSatisfied }),
		ratioOf("helpdesk_csat_ratio", "Share of CSAT answers scoring 4 or 5.", (*Values).CSATRatio),
		ratioOf("helpdesk_csat_score_avg", "Mean CSAT score (1–5).", (*Values).CSATAvg),
		count("helpdesk_nps_responses", "NPS answers in the window.", func(v *Values) int64 { return v.NPSResponses }),
		count("helpdesk_nps_promoters", "NPS answers scoring 9 or 10.", func(v *Values) int64 { return v.NPSPromoters }),
		count("helpdesk_nps_detractors", "NPS answers scoring 0 to 6.", func(v *Values) int64 { return v.NPSDetractors }),
		ratioOf("helpdesk_nps_score", "Net promoter score, −100 to 100.", (*Values).NPS),
		count("helpdesk_ces_responses", "CES answers in the window.", func(v *Values) int64 { return v.CESResponses }),
		ratioOf("helpdesk_ces_score_avg", "Mean customer effort score (1–7).", (*Values).CESAvg),
		ratioOf("helpdesk_ces_easy_ratio", "Share of CES answers scoring 5 to 7.", (*Values).CESEasyRatio),
		count("helpdesk_agent_replies", "Public agent replies (ticket.replied) in the window.", func(v *Values) int64 { return v.AgentReplies }),
		count("helpdesk_customer_messages", "Customer messages on existing tickets in the window.", func(v *Values) int64 { return v.CustomerMessages }),
		count("helpdesk_next_replies", "Replies that ended a customer's wait in the window (next reply time samples).", func(v *Values) int64 { return v.NextReplies }),
		quantilesOf("helpdesk_next_reply_time_seconds", "Next reply time quantile (customer message to the reply that ends the wait) in the window (within 1% relative error).", func(v *Values) []float64 { return v.NextReplyQuantiles }),
		ratioOf("helpdesk_next_reply_time_avg_seconds", "Mean next reply time in the window.", (*Values).NextReplyAvg),
	}
}
