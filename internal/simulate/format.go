package simulate

import (
	"strconv"
	"time"
)

// The JSON of an event is appended by hand, field by field, into one reused
// buffer: encoding/json would cost reflection and several allocations per
// event on the generator's hot path. Only the names from Config can need
// escaping, and they are escaped once, in NewGenerator.

const msPerDay = 24 * 60 * 60 * 1000

// eventType is the type of an event the Generator writes. It is the
// package's own, not events.Type, so that the simulator can write types
// before the aggregator decodes them.
type eventType uint8

const (
	typeOpened eventType = iota
	typeFirstReply
	typeResolved
	typeReopened
	typeSurvey
	typeReplied         // v2
	typeCustomerMessage // v2
	typeStatusChanged   // v2
	typeUpdated         // v2
	numEventTypes
)

// String returns the wire name of t, for example "ticket.opened".
func (t eventType) String() string {
	switch t {
	case typeOpened:
		return "ticket.opened"
	case typeFirstReply:
		return "ticket.first_reply"
	case typeResolved:
		return "ticket.resolved"
	case typeReopened:
		return "ticket.reopened"
	case typeSurvey:
		return "survey.answered"
	case typeReplied:
		return "ticket.replied"
	case typeCustomerMessage:
		return "ticket.customer_message"
	case typeStatusChanged:
		return "ticket.status_changed"
	case typeUpdated:
		return "ticket.updated"
	}
	panic("BUG: simulate: event type " + strconv.Itoa(int(t)))
}

// begin starts the JSON of an event with the fields every event has, and
// ticket_id unless ticket is 0. It assigns the next event id.
func (g *Generator) begin(t eventType, at int64, ticket uint64) []byte {
	g.buf = append(g.buf[:0], g.idPrefix...)
	b := g.buf
	g.lastEvent++
	b = strconv.AppendUint(b, g.lastEvent, 10)
	g.idEnd = len(b)
	b = append(b, `","type":"`...)
	b = append(b, t.String()...)
	if ticket != 0 {
		b = append(b, `","ticket_id":"T-`...)
		b = strconv.AppendUint(b, ticket, 10)
	}
	b = append(b, `","occurred_at":"`...)
	b = g.appendTime(b, at)
	return append(b, '"')
}

// end closes the JSON begun by begin and returns it as a Message.
func (g *Generator) end(b []byte, t eventType, at int64) Message {
	b = append(b, '}')
	g.buf = b
	data := make([]byte, len(b))
	copy(data, b)
	return Message{
		Subject:    g.subjects[t],
		MsgID:      string(b[len(`{"id":"`):g.idEnd]),
		Data:       data,
		OccurredAt: time.UnixMilli(at).UTC(),
	}
}

func (g *Generator) appendAgent(b []byte, agent uint32) []byte {
	b = append(b, `,"agent_id":"a-`...)
	b = strconv.AppendUint(b, uint64(agent), 10)
	return append(b, '"')
}

// appendTime appends the Unix millisecond time ms in the RFC 3339 form
// 2006-01-02T15:04:05.000Z. The date is formatted once per day.
func (g *Generator) appendTime(b []byte, ms int64) []byte {
	d := ms / msPerDay
	if ms%msPerDay < 0 {
		d--
	}
	if d != g.day {
		g.day = d
		g.dayPrefix = time.UnixMilli(d*msPerDay).UTC().AppendFormat(g.dayPrefix[:0], "2006-01-02T")
	}
	b = append(b, g.dayPrefix...)
	r := ms - d*msPerDay
	b = append2(b, r/3_600_000)
	b = append(b, ':')
	b = append2(b, r/60_000%60)
	b = append(b, ':')
	b = append2(b, r/1000%60)
	b = append(b, '.')
	b = append2(b, r%1000/10)
	b = append(b, byte('0'+r%10), 'Z')
	return b
}

// append2 appends v, from 0 to 99, as two digits.
func append2(b []byte, v int64) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendDeciseconds appends the millisecond duration ms in seconds, rounded
// to one decimal, for example 412.5.
func appendDeciseconds(b []byte, ms int64) []byte {
	ds := (ms + 50) / 100
	b = strconv.AppendInt(b, ds/10, 10)
	return append(b, '.', byte('0'+ds%10))
}

// appendJSONString appends s as a JSON string. s must be valid UTF-8
// (Config.Validate checks the names that reach here).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
