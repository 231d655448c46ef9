package simulate_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

// The life of one ticket in the v2 stream: the first reply, a conversation
// with pending periods, the resolution and a survey, at the overloaded
// team's pace.
func ExampleGenerator() {
	gen := simulate.NewGenerator(simulate.Config{
		Overloaded:     true,
		Seed:           1,
		Start:          time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		TicketsPerHour: 120,
		Channels:       []string{"email", "chat"},
		Teams:          []string{"billing"},
	})
	for range 1100 {
		m := gen.Next()
		if bytes.Contains(m.Data, []byte(`"ticket_id":"T-6"`)) {
			fmt.Println(string(m.Data))
		}
	}
	// Output:
	// {"id":"e-1-6","type":"ticket.opened","ticket_id":"T-6","occurred_at":"2026-11-23T08:01:16.150Z","channel":"chat","priority":"normal","team":"billing"}
	// {"id":"e-1-10","type":"ticket.replied","ticket_id":"T-6","occurred_at":"2026-11-23T08:02:13.058Z","agent_id":"a-33"}
	// {"id":"e-1-19","type":"ticket.status_changed","ticket_id":"T-6","occurred_at":"2026-11-23T08:03:20.812Z","status":"pending"}
	// {"id":"e-1-22","type":"ticket.customer_message","ticket_id":"T-6","occurred_at":"2026-11-23T08:04:20.812Z"}
	// {"id":"e-1-23","type":"ticket.status_changed","ticket_id":"T-6","occurred_at":"2026-11-23T08:04:22.132Z","status":"open"}
	// {"id":"e-1-348","type":"ticket.replied","ticket_id":"T-6","occurred_at":"2026-11-23T09:18:29.403Z","agent_id":"a-33"}
	// {"id":"e-1-351","type":"ticket.status_changed","ticket_id":"T-6","occurred_at":"2026-11-23T09:18:40.042Z","status":"pending"}
	// {"id":"e-1-452","type":"ticket.customer_message","ticket_id":"T-6","occurred_at":"2026-11-23T09:36:04.225Z"}
	// {"id":"e-1-453","type":"ticket.status_changed","ticket_id":"T-6","occurred_at":"2026-11-23T09:36:04.270Z","status":"open"}
	// {"id":"e-1-566","type":"ticket.replied","ticket_id":"T-6","occurred_at":"2026-11-23T09:50:06.639Z","agent_id":"a-33"}
	// {"id":"e-1-567","type":"ticket.status_changed","ticket_id":"T-6","occurred_at":"2026-11-23T09:50:17.194Z","status":"pending"}
	// {"id":"e-1-634","type":"ticket.resolved","ticket_id":"T-6","occurred_at":"2026-11-23T10:01:03.419Z","agent_id":"a-33","handle_seconds":596.7}
	// {"id":"e-1-1017","type":"survey.answered","ticket_id":"T-6","occurred_at":"2026-11-23T10:50:30.773Z","survey":{"kind":"csat","score":5}}
}

// The first messages of the v1 stream, which has only the event types of
// contract v1.
func ExampleGenerator_v1() {
	gen := simulate.NewGenerator(simulate.Config{
		Seed:           1,
		Start:          time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		TicketsPerHour: 120,
		Channels:       []string{"email", "chat"},
		Teams:          []string{"billing"},
		V1:             true,
	})
	for range 6 {
		m := gen.Next()
		fmt.Println(m.Subject)
		fmt.Println(string(m.Data))
	}
	// Output:
	// helpdesk.events.ticket.opened
	// {"id":"e-1-1","type":"ticket.opened","ticket_id":"T-1","occurred_at":"2026-11-23T08:00:00.000Z","channel":"email","priority":"normal","team":"billing"}
	// helpdesk.events.ticket.opened
	// {"id":"e-1-2","type":"ticket.opened","ticket_id":"T-2","occurred_at":"2026-11-23T08:00:06.371Z","channel":"chat","priority":"high","team":"billing"}
	// helpdesk.events.ticket.first_reply
	// {"id":"e-1-3","type":"ticket.first_reply","ticket_id":"T-2","occurred_at":"2026-11-23T08:00:15.323Z","agent_id":"a-6"}
	// helpdesk.events.ticket.opened
	// {"id":"e-1-4","type":"ticket.opened","ticket_id":"T-3","occurred_at":"2026-11-23T08:00:20.177Z","channel":"email","priority":"normal","team":"billing"}
	// helpdesk.events.ticket.opened
	// {"id":"e-1-5","type":"ticket.opened","ticket_id":"T-4","occurred_at":"2026-11-23T08:00:30.764Z","channel":"email","priority":"high","team":"billing"}
	// helpdesk.events.ticket.opened
	// {"id":"e-1-6","type":"ticket.opened","ticket_id":"T-5","occurred_at":"2026-11-23T08:01:09.676Z","channel":"email","priority":"normal","team":"billing"}
}

// Publish paced so that event time keeps step with the wall clock, as a
// demo would, until interrupted.
func ExamplePublish() {
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		fmt.Println(err)
		return
	}

	cfg := simulate.DefaultConfig()
	cfg.Start = time.Now()
	published, err := simulate.Publish(ctx, js, simulate.NewGenerator(cfg), simulate.PublishConfig{
		Rate:     cfg.RealTimeRate(),
		Progress: os.Stderr,
		Async:    true,
	})
	fmt.Println(published, err)
}
