package events_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

func ExampleDecode() {
	// One Event is reused for every message; its byte slices alias the
	// message, so copy what must outlive the next Decode.
	var ev events.Event

	msg := []byte(`{"id":"e-7f3a","type":"ticket.opened","ticket_id":"T-1042",` +
		`"occurred_at":"2026-11-23T09:00:00+01:00","channel":"email","priority":"high","team":"billing"}`)
	if err := events.Decode(msg, &ev); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Type, string(ev.TicketID), time.Unix(0, ev.OccurredAt).UTC().Format(time.RFC3339))
	fmt.Println(string(ev.Channel), ev.Priority, string(ev.Team), ev.Replies)

	// A rejection is an *events.Error naming the reason and the field.
	err := events.Decode([]byte(`{"id":"e-7f3e","type":"survey.answered","occurred_at":"2026-11-23T10:02:00Z",`+
		`"survey":{"kind":"csat","score":6}}`), &ev)
	var rejected *events.Error
	if errors.As(err, &rejected) {
		fmt.Println(rejected.Reason, rejected.Field)
		fmt.Println(err)
	}
	// Output:
	// ticket.opened T-1042 2026-11-23T08:00:00Z
	// email high billing -1
	// out_of_range survey.score
	// out_of_range: survey.score: must be an integer from 1 to 5 for csat
}

func ExampleDecode_updated() {
	var ev events.Event
	msg := []byte(`{"id":"e-8a04","type":"ticket.updated","ticket_id":"T-1042",` +
		`"occurred_at":"2026-11-23T08:40:00Z","priority":"normal","team":"escalations"}`)
	if err := events.Decode(msg, &ev); err != nil {
		fmt.Println(err)
		return
	}
	// Changes tells a new priority "normal" (the zero Priority) from none.
	fmt.Println(ev.Changes&events.ChangeChannel != 0, ev.Changes&events.ChangePriority != 0, ev.Changes&events.ChangeTeam != 0)
	fmt.Println(ev.Priority, string(ev.Team))

	err := events.Decode([]byte(`{"id":"e-8a05","type":"ticket.status_changed","ticket_id":"T-1042",`+
		`"occurred_at":"2026-11-23T08:41:00Z","status":"closed"}`), &ev)
	fmt.Println(err)
	// Output:
	// false true true
	// normal escalations
	// invalid_value: status: must be one of open, pending, on_hold
}
