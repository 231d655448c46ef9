package events

import "testing"

// benchOpened is a realistic ticket.opened: a ULID id, an offset with
// milliseconds, team and agent, and fields the aggregator does not know.
const benchOpened = `{"id":"01JDA7Q4ZK3M8N2P5R6S9T0VWX","type":"ticket.opened","ticket_id":"ZD-2026-0481516",` +
	`"occurred_at":"2026-11-23T09:15:42.318+01:00","channel":"email","priority":"high","team":"billing-emea",` +
	`"agent_id":"agent-0172","source":{"system":"zendesk"},"tags":["vip"]}`

// benchSurvey is a realistic survey.answered.
const benchSurvey = `{"id":"01JDA7Q4ZK3M8N2P5R6S9T0VWY","type":"survey.answered","ticket_id":"ZD-2026-0481516",` +
	`"occurred_at":"2026-11-24T14:02:11Z","survey":{"kind":"nps","score":9,"comment_len":42},"locale":"de-DE"}`

// benchUpdated is a realistic ticket.updated: an escalation to another team
// with a new priority.
const benchUpdated = `{"id":"01JDA7Q4ZK3M8N2P5R6S9T0VX0","type":"ticket.updated","ticket_id":"ZD-2026-0481516",` +
	`"occurred_at":"2026-11-23T10:05:17.042+01:00","priority":"urgent","team":"escalations-emea",` +
	`"agent_id":"agent-0172","source":{"system":"zendesk"}}`

// benchStatusChanged is a realistic ticket.status_changed.
const benchStatusChanged = `{"id":"01JDA7Q4ZK3M8N2P5R6S9T0VX1","type":"ticket.status_changed","ticket_id":"ZD-2026-0481516",` +
	`"occurred_at":"2026-11-23T10:06:02Z","status":"pending","agent_id":"agent-0172","previous_status":"open"}`

func BenchmarkDecode(b *testing.B) {
	for _, bm := range []struct {
		name string
		msg  string
	}{
		{"ticket.opened", benchOpened},
		{"survey.answered", benchSurvey},
		{"ticket.resolved", `{"id":"01JDA7Q4ZK3M8N2P5R6S9T0VWZ","type":"ticket.resolved","ticket_id":"ZD-2026-0481516",` +
			`"occurred_at":"2026-11-23T11:40:00Z","agent_id":"agent-0172","replies":3,"handle_seconds":742.25}`},
		{"ticket.updated", benchUpdated},
		{"ticket.status_changed", benchStatusChanged},
	} {
		b.Run(bm.name, func(b *testing.B) {
			data := []byte(bm.msg)
			var ev Event
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := Decode(data, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
