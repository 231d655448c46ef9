package simulate

import "github.com/helpdesk-kpi/aggregator/internal/events"

// The v2 life of a ticket, one step per event, each step scheduling the
// next:
//
//	opened → replied (the first reply) [→ updated] → turn
//	turn:     [status pending] → customer message, or resolution
//	message:  [status open, if pending] → [on_hold → open] → replied → turn,
//	          or, for a closing thanks, resolution
//	resolution: [status open, if pending] → resolved
//	          [→ reopened → customer message → …] → surveys
//
// Beside these steps, a first reply may be sent a second time as
// ticket.first_reply, and a customer may write before the first reply;
// those events change nothing that follows.

// openV2 adds the v2 parts to a ticket that open is opening at event time
// at; t's first step is already drawn.
func (g *Generator) openV2(t *entry, at int64) {
	if t.kind == kindFirstReply {
		t.kind = kindReply
	}
	if g.rng.Float64() < earlyMessageShare {
		// Between the opening and the first step, whatever it is.
		g.schedule(entry{
			kind:   kindEarlyMessage,
			at:     at + int64((0.3+0.6*g.rng.Float64())*float64(t.at-at)),
			ticket: t.ticket,
		})
	}
}

// reply writes a ticket.replied: the first reply, or the one that ends a
// customer's wait.
func (g *Generator) reply(t entry) Message {
	at := t.at
	first := !t.answered
	if first || g.rng.Float64() >= sameAgentShare {
		t.agent = g.drawAgent(t.team)
	}
	t.answered = true
	t.replies++
	t.handle += lognormal(g.rng, g.channels[t.channel].handleMedian, handleSigma, handleMin, handleMax)
	b := g.begin(typeReplied, at, t.ticket)
	b = g.appendAgent(b, t.agent)
	msg := g.end(b, typeReplied, at)

	if first {
		if g.rng.Float64() < twinShare {
			g.schedule(entry{kind: kindFirstReplyTwin, at: at, ticket: t.ticket, agent: t.agent})
		}
		t.msgs = uint8(g.messages.draw(g.rng))
		if t.msgs > 0 && g.rng.Float64() < thanksShare {
			t.flags |= flagThanks
		}
		if (t.prio == events.PriorityNormal || t.prio == events.PriorityHigh) && g.rng.Float64() < escalateShare {
			t.flags |= flagEscalate
		}
		if len(g.teams) > 1 && g.rng.Float64() < transferShare {
			t.flags |= flagTransfer
		}
		if t.flags&(flagEscalate|flagTransfer) != 0 {
			t.kind = kindUpdate
			t.at += lognormal(g.rng, updateMedian, updateSigma, updateMin, updateMax)
			g.schedule(t)
			return msg
		}
	}
	g.afterReply(t)
	return msg
}

// firstReplyTwin writes the ticket.first_reply of a reply also sent as
// ticket.replied.
func (g *Generator) firstReplyTwin(e entry) Message {
	b := g.begin(typeFirstReply, e.at, e.ticket)
	b = g.appendAgent(b, e.agent)
	return g.end(b, typeFirstReply, e.at)
}

// update writes the ticket.updated of an escalation, a transfer or both.
func (g *Generator) update(t entry) Message {
	at := t.at
	b := g.begin(typeUpdated, at, t.ticket)
	if t.flags&flagEscalate != 0 {
		if t.prio == events.PriorityNormal {
			t.prio = events.PriorityHigh
		} else {
			t.prio = events.PriorityUrgent
		}
		b = append(b, `,"priority":"`...)
		b = append(b, t.prio.String()...)
		b = append(b, '"')
	}
	if t.flags&flagTransfer != 0 {
		// Another team than the current one; the next agent is one of
		// its own.
		team := uint16(g.teamDist.draw(g.rng))
		if team == t.team {
			team = (team + 1) % uint16(len(g.teams))
		}
		t.team = team
		t.agent = g.drawAgent(team)
		b = append(b, `,"team":`...)
		b = append(b, g.teams[team]...)
	}
	msg := g.end(b, typeUpdated, at)
	t.flags &^= flagEscalate | flagTransfer
	g.afterReply(t)
	return msg
}

// afterReply schedules what follows an agent reply (and the update that
// may follow it): the ticket set pending, or the next turn.
func (g *Generator) afterReply(t entry) {
	if g.rng.Float64() < pendingShare {
		g.scheduleStatus(t, statusPending, lognormal(g.rng, statusMedian, statusSigma, statusMin, statusMax))
		return
	}
	g.afterTurn(t)
}

// afterTurn schedules what follows the agent's turn: the customer's next
// message, or the resolution when the conversation has run its course.
func (g *Generator) afterTurn(t entry) {
	if t.msgs == 0 {
		factor := lastReplyResolveFactor
		if t.reopened {
			factor *= reresolveFactor
		}
		median := g.prios[t.prio].resolveMedian * g.pace.resolve[t.prio] * g.channels[t.channel].resolveFactor * factor
		g.scheduleResolve(t, lognormal(g.rng, median, g.pace.resolveSigma, resolveMin, g.pace.resolveMax))
		return
	}
	t.kind = kindCustomerMessage
	t.at += lognormal(g.rng, g.channels[t.channel].customerMedian, g.pace.customerSigma, customerMin, g.pace.customerMax)
	g.schedule(t)
}

// customerMessage writes a ticket.customer_message after the first reply.
func (g *Generator) customerMessage(t entry) Message {
	at := t.at
	msg := g.end(g.begin(typeCustomerMessage, at, t.ticket), typeCustomerMessage, at)
	t.msgs--
	if t.status == statusPending {
		// The helpdesk sets it open again as the message comes in.
		g.scheduleStatus(t, statusOpen, g.rng.Int64N(echoDelay))
		return msg
	}
	g.afterMessage(t)
	return msg
}

// afterMessage schedules the answer to a customer message on an open
// ticket: the reply (after a hold, sometimes), or, for a closing thanks,
// the resolution.
func (g *Generator) afterMessage(t entry) {
	switch {
	case t.msgs == 0 && t.flags&flagThanks != 0:
		t.flags &^= flagThanks
		g.scheduleResolve(t, lognormal(g.rng, thanksMedian, g.pace.resolveSigma, resolveMin, g.pace.resolveMax))
	case g.rng.Float64() < holdShare:
		g.scheduleStatus(t, statusOnHold, lognormal(g.rng, statusMedian, statusSigma, statusMin, statusMax))
	default:
		t.kind = kindReply
		t.at += lognormal(g.rng, g.prios[t.prio].nextReplyMedian*g.pace.nextReply, nextReplySigma, nextReplyMin, g.pace.nextReplyMax)
		g.schedule(t)
	}
}

// scheduleResolve schedules the resolution after delay; a pending ticket
// is, at times, set open first.
func (g *Generator) scheduleResolve(t entry, delay int64) {
	if t.status == statusPending && g.rng.Float64() < pendingOpenShare {
		t.flags |= flagResolving
		g.scheduleStatus(t, statusOpen, delay)
		return
	}
	t.kind = kindResolve
	t.at += delay
	g.schedule(t)
}

func (g *Generator) scheduleStatus(t entry, to status, delay int64) {
	t.kind = kindStatus
	t.to = to
	t.at += delay
	g.schedule(t)
}

// statusChange writes a ticket.status_changed to t.to.
func (g *Generator) statusChange(t entry) Message {
	at := t.at
	b := g.begin(typeStatusChanged, at, t.ticket)
	b = append(b, `,"status":"`...)
	b = append(b, t.to.String()...)
	b = append(b, '"')
	msg := g.end(b, typeStatusChanged, at)

	from := t.status
	t.status = t.to
	switch {
	case t.status == statusPending:
		g.afterTurn(t)
	case t.status == statusOnHold:
		g.scheduleStatus(t, statusOpen, lognormal(g.rng, holdMedian, holdSigma, holdMin, holdMax))
	case t.flags&flagResolving != 0:
		t.flags &^= flagResolving
		t.kind = kindResolve
		t.at += lognormal(g.rng, statusMedian, statusSigma, statusMin, statusMax)
		g.schedule(t)
	case from == statusOnHold:
		t.kind = kindReply
		t.at += lognormal(g.rng, afterHoldMedian, afterHoldSigma, nextReplyMin, g.pace.nextReplyMax)
		g.schedule(t)
	default: // open again because the customer wrote
		g.afterMessage(t)
	}
	return msg
}

// reopenV2 schedules the customer message that reopened t, and the
// conversation that follows it.
func (g *Generator) reopenV2(t entry) {
	t.status = statusOpen
	t.flags = 0
	t.msgs = uint8(1 + g.reopenMessages.draw(g.rng))
	t.kind = kindCustomerMessage
	t.at += g.rng.Int64N(reopenMessageDelay)
	g.schedule(t)
}
