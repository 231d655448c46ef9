package kpi

import "time"

// The ledger clock decides when the breach of an unmet SLA clock is
// counted in the cumulative counters (ledger.go). The windowed gauges and
// the live SLA state (at risk, breached and open) follow the wall clock
// passed to Advance; the counters follow this one instead, so that they
// depend only on what the stream holds and never count a breach that the
// next message in the stream would take back:
//
//   - Events move it to the newest event time. A stream of history (a
//     backfill, a restart's replay, a publisher catching up) is so judged
//     in the time it describes: an opening from last week is not breached
//     in the counters because it is read today, only once the stream's
//     own time passes its deadline unmet.
//   - While the stream is live (its last message was stored within
//     MaxClockSkew of the newest event time), it also moves with the time
//     the stream stored each message (Arrive) and, between messages, with
//     the wall clock (Tick), less ledgerGrace for messages still on their
//     way: a quiet stream's breaches are counted on time.
//
// A restart that replays the stream after its snapshot therefore moves the
// ledger clock as the first reading did, message by message: Tick's moves
// between two messages are made again by Arrive for the second one, before
// it is applied. Only a message stored before a Tick and applied more than
// ledgerGrace after it could be judged differently.
//
// A state that is never told stream times (Arrive is not called: tests,
// simulations) moves the ledger clock with Advance, less ledgerGrace.

// ledgerGrace is how long after a deadline the ledger clock of a live
// stream counts its breach: time for a message stored just before it to be
// applied.
const ledgerGrace = 2 * time.Second

// Arrive tells the state that the stream stored the next message at stored
// (Unix ns); call it before applying the message's event.
func (s *State) Arrive(stored int64) {
	if s.lastStored != minTime && s.lastLive {
		s.advanceLedger(stored - int64(ledgerGrace))
	}
	s.lastStored = max(s.lastStored, stored)
}

// Tick moves the ledger clock with the wall clock now, if the stream is
// live. Call it only while nothing is waiting in the stream: during a
// catch-up, the messages' own stored times move it.
func (s *State) Tick(now int64) {
	if s.lastStored != minTime && s.lastLive {
		s.advanceLedger(now - int64(ledgerGrace))
	}
}
