package simulate_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

func ExampleGenerator() {
	gen := simulate.NewGenerator(simulate.Config{
		Seed:           1,
		Start:          time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		TicketsPerHour: 120,
		Channels:       []string{"email", "chat"},
		Teams:          []string{"billing"},
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
