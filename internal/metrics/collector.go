// Package metrics exposes a kpi.View as Prometheus metrics, with the
// names, labels and help texts of contract section 3.
//
// The Collector renders const metrics from an immutable kpi.View at scrape
// time, so no label value outlives the series it belongs to and nothing is
// Set on the hot path. It only reads; it never changes state.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/kpi"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
)

// Collector is a prometheus.Collector over the views one engine publishes.
type Collector struct {
	view                           func() *kpi.View
	windowed                       []windowed
	open                           *prometheus.Desc
	applied, rejected              *prometheus.Desc
	duplicates, late, orphaned     *prometheus.Desc
	pending, lastEvent             *prometheus.Desc
	tracked, held, evicted         *prometheus.Desc
	opened, resolved, reopened     *prometheus.Desc
	frHist, resHist, surveys       *prometheus.Desc
	slaAchieved, slaBreached       *prometheus.Desc
	slaCompliance, slaAtRisk       *prometheus.Desc
	slaBreachedOpen, slaNextBreach *prometheus.Desc
	slaOutcomes, slaCorrected      *prometheus.Desc
	slaPaused, openByStatus        *prometheus.Desc
	nrHist                         *prometheus.Desc
	agentFRAvg, agentFR            *prometheus.Desc
	agentResolved                  *prometheus.Desc
	agentCSAT, agentCSATRatio      *prometheus.Desc
	agentSLAAchieved               *prometheus.Desc
	agentSLABreached               *prometheus.Desc
	agentSLACompliance             *prometheus.Desc
	expired, corrected             *prometheus.Desc
	labelOverflow                  *prometheus.Desc
}

// windowed is one KPI of kpi.Catalog with its descriptor: labels window
// and the breakdown, and quantile for kpi.QuantileValues.
type windowed struct {
	kpi.Windowed
	desc *prometheus.Desc
}

// NewCollector returns a collector of the views view returns; it is
// called once per scrape.
func NewCollector(view func() *kpi.View) *Collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	var ws []windowed
	for _, k := range kpi.Catalog() {
		labels := []string{"window", "channel", "priority", "team"}
		if k.Kind == kpi.QuantileValues {
			labels = append(labels, "quantile")
		}
		ws = append(ws, windowed{k, desc(k.Name, k.Help, labels...)})
	}
	return &Collector{
		view:       view,
		windowed:   ws,
		open:       desc("helpdesk_open_tickets", "Tickets opened and not resolved (a reopened ticket is open again).", "channel", "priority", "team"),
		applied:    desc("helpdesk_events_total", "Events applied, by type.", "type"),
		rejected:   desc("helpdesk_events_rejected_total", "Messages rejected, by reason; each is dead-lettered.", "reason"),
		duplicates: desc("helpdesk_events_duplicate_total", "Events dropped because an event with the same id was applied."),
		late:       desc("helpdesk_events_late_total", "Events older than the longest window: they update ticket state but no window."),
		orphaned:   desc("helpdesk_events_orphaned_total", "Replies, resolutions and reopenings applied without their ticket's opening."),
		pending:    desc("helpdesk_consumer_pending_messages", "Messages in the stream not yet applied."),
		lastEvent:  desc("helpdesk_last_event_timestamp_seconds", "occurred_at of the newest applied event."),
		tracked:    desc("helpdesk_tracked_tickets", "Tickets held in memory: open, or resolved within the retention."),
		held:       desc("helpdesk_held_events", "Events waiting for their ticket's opening."),
		evicted:    desc("helpdesk_evicted_total", "What the memory bounds pushed out: tickets forgotten (tracked_limit), held events orphaned (held_limit), ids of ticketless events forgotten (ids_limit).", "reason"),
		opened:     desc("helpdesk_tickets_opened_total", "Tickets opened, by event time, since the stream began.", "channel", "priority", "team"),
		resolved:   desc("helpdesk_tickets_resolved_total", "Ticket resolutions, by event time, since the stream began.", "channel", "priority", "team"),
		reopened:   desc("helpdesk_tickets_reopened_total", "Ticket reopenings, by event time, since the stream began.", "channel", "priority", "team"),
		frHist:     desc("helpdesk_first_reply_duration_seconds", "First reply times since the stream began.", "channel", "priority"),
		resHist:    desc("helpdesk_resolution_duration_seconds", "Resolution times since the stream began.", "channel", "priority"),
		surveys:    desc("helpdesk_survey_responses_total", "Survey answers since the stream began, by kind and score.", "kind", "score"),

		agentFRAvg:         desc("helpdesk_agent_first_reply_time_avg_seconds", "Mean first reply time of the agent's first replies in the window (per-agent series, opt-in).", "window", "agent"),
		agentFR:            desc("helpdesk_agent_first_replies", "First replies the agent sent in the window.", "window", "agent"),
		agentResolved:      desc("helpdesk_agent_resolved", "Resolutions by the agent in the window.", "window", "agent"),
		agentCSAT:          desc("helpdesk_agent_csat_responses", "CSAT answers after a resolution by the agent, in the window.", "window", "agent"),
		agentCSATRatio:     desc("helpdesk_agent_csat_ratio", "Share of the agent's CSAT answers scoring 4 or 5.", "window", "agent"),
		agentSLAAchieved:   desc("helpdesk_agent_sla_achieved", "SLA clocks the agent met by the deadline, in the window.", "window", "agent", "sla"),
		agentSLABreached:   desc("helpdesk_agent_sla_breached", "SLA clocks the agent met after the deadline (counted at the deadline), in the window.", "window", "agent", "sla"),
		agentSLACompliance: desc("helpdesk_agent_sla_compliance_ratio", "Of the SLA clocks the agent met, the share met by the deadline.", "window", "agent", "sla"),
		nrHist:             desc("helpdesk_next_reply_duration_seconds", "Next reply times (customer message to the reply that ends the wait) since the stream began.", "channel", "priority"),
		openByStatus:       desc("helpdesk_open_tickets_by_status", "Open tickets by their current status: open (waiting on the agent), pending (on the customer), on_hold (on a third party).", "status", "channel", "priority", "team"),

		slaAchieved:     desc("helpdesk_sla_achieved", "SLA targets met by their deadline, counted when met, in the window.", "window", "sla", "policy", "priority", "channel", "team"),
		slaBreached:     desc("helpdesk_sla_breached", "SLA targets missed, counted at their deadline, in the window.", "window", "sla", "policy", "priority", "channel", "team"),
		slaCompliance:   desc("helpdesk_sla_compliance_ratio", "SLA achieved over achieved plus breached in the window.", "window", "sla", "policy", "priority", "channel", "team"),
		slaAtRisk:       desc("helpdesk_sla_at_risk_tickets", "Open tickets whose running SLA clock is unmet, not yet breached, with at least the warning share of its time gone.", "sla", "policy", "priority", "channel", "team"),
		slaBreachedOpen: desc("helpdesk_sla_breached_open_tickets", "Open tickets whose running SLA clock is breached and still unmet.", "sla", "policy", "priority", "channel", "team"),
		slaNextBreach:   desc("helpdesk_sla_next_breach_seconds", "Time until the earliest upcoming SLA breach among running clocks of open tickets.", "sla", "policy", "priority", "channel", "team"),
		slaPaused:       desc("helpdesk_sla_paused_tickets", "Open tickets whose SLA clock stands still in a paused status (never at risk or breached while paused).", "sla", "policy", "priority", "channel", "team"),
		slaOutcomes:     desc("helpdesk_sla_outcomes_total", "SLA outcomes since the stream began: achieved when met, breached at the deadline; never decreases (an outcome a later event takes back is counted in helpdesk_sla_outcome_corrections_total).", "sla", "policy", "priority", "team", "outcome"),
		slaCorrected:    desc("helpdesk_sla_outcome_corrections_total", "SLA outcomes counted in helpdesk_sla_outcomes_total and later taken back by an out-of-order event; the exact count is the difference.", "sla", "policy", "priority", "team", "outcome"),
		expired:         desc("helpdesk_events_expired_total", "Events for a ticket not tracked that lie further behind the newest event time than ids are remembered: applied to nothing."),
		labelOverflow:   desc("helpdesk_label_overflow_total", "Ticket openings whose channel or team was counted as other: a channel outside the channels list, a team outside the teams list or beyond max_teams.", "label"),
		corrected:       desc("helpdesk_corrections_total", "What later events took back from a cumulative series (which never decreases); the exact value is the series minus this.", "metric"),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, w := range c.windowed {
		ch <- w.desc
	}
	for _, d := range []*prometheus.Desc{
		c.open, c.applied, c.rejected, c.duplicates, c.late, c.orphaned,
		c.pending, c.lastEvent, c.tracked, c.held, c.evicted, c.opened, c.resolved, c.reopened,
		c.frHist, c.resHist, c.surveys, c.slaAchieved, c.slaBreached, c.slaCompliance,
		c.slaAtRisk, c.slaBreachedOpen, c.slaNextBreach, c.slaOutcomes, c.slaCorrected, c.expired, c.corrected,
		c.labelOverflow, c.slaPaused, c.openByStatus, c.nrHist,
		c.agentFRAvg, c.agentFR, c.agentResolved, c.agentCSAT, c.agentCSATRatio,
		c.agentSLAAchieved, c.agentSLABreached, c.agentSLACompliance,
	} {
		ch <- d
	}
}

// Collect renders one view.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.view()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	qLabels := make([]string, len(s.Quantiles))
	for i, q := range s.Quantiles {
		qLabels[i] = strconv.FormatFloat(q, 'f', -1, 64)
	}
	for _, w := range s.Windows {
		for i, cell := range s.Cells {
			v := &w.Cells[i]
			for _, m := range c.windowed {
				switch m.Kind {
				case kpi.CountValue:
					gauge(m.desc, float64(m.Count(v)), w.Name, cell.Channel, cell.Priority, cell.Team)
				case kpi.RatioValue:
					if x, ok := m.Ratio(v); ok {
						gauge(m.desc, x, w.Name, cell.Channel, cell.Priority, cell.Team)
					}
				case kpi.QuantileValues:
					for j, q := range m.Quantiles(v) {
						gauge(m.desc, q, w.Name, cell.Channel, cell.Priority, cell.Team, qLabels[j])
					}
				}
			}
		}
	}
	for i, cell := range s.Cells {
		gauge(c.open, float64(s.Open[i]), cell.Channel, cell.Priority, cell.Team)
		for st := range events.Status(events.NumStatuses) {
			gauge(c.openByStatus, float64(s.OpenByStatus[st][i]), st.String(), cell.Channel, cell.Priority, cell.Team)
		}
	}
	gauge(c.pending, float64(s.PendingMessages))
	if s.HasEvents {
		gauge(c.lastEvent, float64(s.LastEventTime)/1e9)
	}
	gauge(c.tracked, float64(s.TrackedTickets))
	gauge(c.held, float64(s.HeldEvents))
	if s.CaughtUp {
		c.collectCumulative(ch, s)
	}
	c.collectSLA(ch, s)
	c.collectAgents(ch, s)
}

// collectAgents renders the per-agent series, when they are on.
func (c *Collector) collectAgents(ch chan<- prometheus.Metric, s *kpi.View) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, w := range s.Windows {
		for i, agent := range s.Agents {
			v := &w.Agents[i]
			gauge(c.agentFR, float64(v.FirstReplies), w.Name, agent)
			if x, ok := v.FirstReplyAvg(); ok {
				gauge(c.agentFRAvg, x, w.Name, agent)
			}
			gauge(c.agentResolved, float64(v.Resolved), w.Name, agent)
			gauge(c.agentCSAT, float64(v.CSATResponses), w.Name, agent)
			if x, ok := v.CSATRatio(); ok {
				gauge(c.agentCSATRatio, x, w.Name, agent)
			}
			for k := range sla.NumKinds {
				gauge(c.agentSLAAchieved, float64(v.SLAAchieved[k]), w.Name, agent, k.String())
				gauge(c.agentSLABreached, float64(v.SLABreached[k]), w.Name, agent, k.String())
				if x, ok := v.SLACompliance(k); ok {
					gauge(c.agentSLACompliance, x, w.Name, agent, k.String())
				}
			}
		}
	}
}

// collectCumulative renders the counters and histograms kept in the
// state. They are left out until the state has caught up with the stream:
// a state restored from a snapshot holds lower values than an earlier
// process may have served until its replay gets past that point, and
// Prometheus would read the dip as a reset.
func (c *Collector) collectCumulative(ch chan<- prometheus.Metric, s *kpi.View) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for t := events.TicketOpened; int(t) < events.NumTypes; t++ {
		counter(c.applied, float64(s.Applied[t]), t.String())
	}
	for _, r := range events.Reasons() {
		counter(c.rejected, float64(s.Rejected[r]), string(r))
	}
	counter(c.duplicates, float64(s.Duplicates))
	counter(c.late, float64(s.Late))
	counter(c.orphaned, float64(s.Orphaned))
	counter(c.expired, float64(s.Expired))
	counter(c.evicted, float64(s.Evicted[kpi.EvictedTracked]), "tracked_limit")
	counter(c.evicted, float64(s.Evicted[kpi.EvictedHeld]), "held_limit")
	counter(c.evicted, float64(s.Evicted[kpi.EvictedIDs]), "ids_limit")
	counter(c.labelOverflow, float64(s.LabelOverflow[kpi.OverflowChannel]), "channel")
	counter(c.labelOverflow, float64(s.LabelOverflow[kpi.OverflowTeam]), "team")
	var corrected [3]int64
	for _, t := range s.Tickets {
		counter(c.opened, float64(t.Opened), t.Channel, t.Priority, t.Team)
		counter(c.resolved, float64(t.Resolved), t.Channel, t.Priority, t.Team)
		counter(c.reopened, float64(t.Reopened), t.Channel, t.Priority, t.Team)
		corrected[0] += t.OpenedCorrected
		corrected[1] += t.ResolvedCorrected
		corrected[2] += t.ReopenedCorrected
	}
	counter(c.corrected, float64(corrected[0]), "helpdesk_tickets_opened_total")
	counter(c.corrected, float64(corrected[1]), "helpdesk_tickets_resolved_total")
	counter(c.corrected, float64(corrected[2]), "helpdesk_tickets_reopened_total")
	bounds := kpi.DurationBuckets()
	for _, h := range []struct {
		name string
		desc *prometheus.Desc
		data []kpi.DurationHistogram
	}{
		{"helpdesk_first_reply_duration_seconds", c.frHist, s.FirstReplyDurations},
		{"helpdesk_resolution_duration_seconds", c.resHist, s.ResolutionDurations},
		{"helpdesk_next_reply_duration_seconds", c.nrHist, s.NextReplyDurations},
	} {
		var n uint64
		for _, d := range h.data {
			ch <- newHistogram(h.desc, bounds, d)
			n += d.Corrected
		}
		counter(c.corrected, float64(n), h.name)
	}
	var surveysCorrected int64
	for _, sc := range s.Surveys {
		counter(c.surveys, float64(sc.Count), sc.Kind, strconv.Itoa(sc.Score))
		surveysCorrected += sc.Corrected
	}
	counter(c.corrected, float64(surveysCorrected), "helpdesk_survey_responses_total")
	st := &s.SLA
	for k := range sla.NumKinds {
		for i, cell := range st.OutcomeCells {
			for o, outcome := range [2]string{"achieved", "breached"} {
				counter(c.slaOutcomes, float64(st.Outcomes[k][i][o]), k.String(), cell.Policy, cell.Priority, cell.Team, outcome)
				counter(c.slaCorrected, float64(st.OutcomesCorrected[k][i][o]), k.String(), cell.Policy, cell.Priority, cell.Team, outcome)
			}
		}
	}
}

// collectSLA renders the SLA series: windowed outcomes and the live state
// of open tickets, for every SLA cell (the breakdown rule over policy,
// priority, channel and team).
func (c *Collector) collectSLA(ch chan<- prometheus.Metric, s *kpi.View) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, w := range s.Windows {
		for i, cell := range s.SLACells {
			v := &w.SLA[i]
			for k := range sla.NumKinds {
				gauge(c.slaAchieved, float64(v.Achieved[k]), w.Name, k.String(), cell.Policy, cell.Priority, cell.Channel, cell.Team)
				gauge(c.slaBreached, float64(v.Breached[k]), w.Name, k.String(), cell.Policy, cell.Priority, cell.Channel, cell.Team)
				if r, ok := v.Compliance(k); ok {
					gauge(c.slaCompliance, r, w.Name, k.String(), cell.Policy, cell.Priority, cell.Channel, cell.Team)
				}
			}
		}
	}
	st := &s.SLA
	for k := range sla.NumKinds {
		for i, cell := range s.SLACells {
			labels := []string{k.String(), cell.Policy, cell.Priority, cell.Channel, cell.Team}
			gauge(c.slaAtRisk, float64(st.AtRisk[k][i]), labels...)
			gauge(c.slaBreachedOpen, float64(st.BreachedOpen[k][i]), labels...)
			gauge(c.slaPaused, float64(st.Paused[k][i]), labels...)
			if st.HasNextBreach[k][i] {
				gauge(c.slaNextBreach, float64(st.NextBreach[k][i]-s.Time)/1e9, labels...)
			}
		}
	}
}
