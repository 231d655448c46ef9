package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

// runSimulate is `aggregator simulate`: it publishes a synthetic helpdesk
// stream, in contract v2 (every agent reply and customer message, pending
// and on-hold periods, escalations and transfers) unless -v1 asks for the
// v1 stream. By default it first publishes -backfill of history at once,
// then follows the clock, publishing each event when its time comes, so a
// live aggregator sees a realistic day. With -rate it publishes as fast as
// that instead, for load.
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aggregator simulate", flag.ContinueOnError)
	def := simulate.DefaultConfig()
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL (the aggregator's embedded server by default)")
	var auth NATSAuth
	fs.StringVar(&auth.CredsFile, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&auth.User, "nats-user", "", "NATS user name")
	fs.StringVar(&auth.Password, "nats-password", "", "NATS password")
	fs.StringVar(&auth.TLSCA, "nats-tls-ca", "", "CA certificate file to verify the NATS server")
	perHour := fs.Float64("tickets-per-hour", 1200, "new tickets per hour of event time")
	backfill := fs.Duration("backfill", 24*time.Hour, "history to publish at once before following the clock")
	rate := fs.Float64("rate", 0, "messages per second, ignoring event times (for load); 0 follows the clock")
	count := fs.Int("count", 0, "messages to publish; 0 means until interrupted")
	seed := fs.Uint64("seed", 0, "random seed; the same seed gives the same stream (default: a new seed each run, printed at start)")
	dups := fs.Float64("duplicates", def.DuplicateShare, "share of messages re-sent with the same id (publish retries)")
	disorder := fs.Float64("disorder", def.DisorderShare, "share of events sent after some of their successors")
	v1 := fs.Bool("v1", false, "publish the contract v1 stream instead of v2 (for a seed, the same messages as before v2)")
	if err := parseArgs(fs, args, stdout, simulateUsage, true); err != nil {
		return err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if *backfill < 0 {
		return fmt.Errorf("-backfill %v: must not be negative", *backfill)
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	if !seedSet {
		*seed = uint64(time.Now().UnixNano())
	}
	cfg := simulate.Config{
		Seed:           *seed,
		Start:          time.Now().Add(-*backfill),
		TicketsPerHour: *perHour,
		DuplicateShare: *dups,
		DisorderShare:  *disorder,
		V1:             *v1,
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	nc, err := connectNATS(*natsURL, auth, zerolog.Nop())
	if err != nil {
		return err
	}
	defer nc.Close()
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
		if failed.Add(1) == 1 {
			fmt.Fprintf(stderr, "simulate: publish of %s failed: %v (further failures are counted, not printed)\n", m.Header.Get(jetstream.MsgIDHeader), err)
		}
	}))
	if err != nil {
		return err
	}
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.StreamNameBySubject(checkCtx, simulate.SubjectPrefix+"ticket.opened"); err != nil {
		return fmt.Errorf("no JetStream stream takes %s* at %s: start the aggregator first, which creates it, or create the stream: %w", simulate.SubjectPrefix, redactURLs(nc.ConnectedUrl()), err)
	}
	defer func() {
		if n := failed.Load(); n > 0 {
			fmt.Fprintf(stderr, "simulate: %d publishes failed\n", n)
		}
	}()
	gen := simulate.NewGenerator(cfg)
	version := "v2"
	if *v1 {
		version = "v1"
	}
	fmt.Fprintf(stdout, "simulate: contract %s, seed %d, %.0f tickets/hour, publishing to %s\n", version, *seed, *perHour, redactURLs(nc.ConnectedUrl()))
	if *rate > 0 {
		n, err := simulate.Publish(ctx, js, gen, simulate.PublishConfig{Rate: *rate, Count: *count, Progress: stdout, Async: true})
		fmt.Fprintf(stdout, "simulate: published %d messages\n", n)
		return err
	}
	return followClock(ctx, js, gen, *count, stdout)
}

// followClock publishes each message once the wall clock reaches its event
// time: history at once, then live. It prints progress every 5 seconds.
func followClock(ctx context.Context, js jetstream.JetStream, gen *simulate.Generator, count int, out io.Writer) error {
	start := time.Now()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	published := 0
	report := func(eventTime time.Time) {
		fmt.Fprintf(out, "simulate: %d published (%.0f/s), event time %s\n",
			published, float64(published)/time.Since(start).Seconds(), eventTime.Format(time.RFC3339))
	}
	defer func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
		}
	}()
	for count == 0 || published < count {
		m := gen.Next()
		if wait := time.Until(m.OccurredAt); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				report(m.OccurredAt)
				return nil
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			report(m.OccurredAt)
			return nil
		case <-progress.C:
			report(m.OccurredAt)
		default:
		}
		msg := nats.NewMsg(m.Subject)
		msg.Data = m.Data
		msg.Header.Set(jetstream.MsgIDHeader, m.MsgID)
		if _, err := js.PublishMsgAsync(msg); err != nil {
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				<-js.PublishAsyncComplete()
				if _, err = js.PublishMsgAsync(msg); err == nil {
					published++
					continue
				}
			}
			return fmt.Errorf("publish %s: %w", m.MsgID, err)
		}
		published++
	}
	report(time.Now())
	return nil
}

const simulateUsage = `Usage: aggregator simulate [flags]

Publishes a synthetic helpdesk stream to the aggregator's JetStream stream.
By default it speaks contract v2: each agent reply as ticket.replied (some
first replies also as ticket.first_reply), customer messages, pending and
on-hold periods (ticket.status_changed), escalations and team transfers
(ticket.updated), and resolutions that mostly leave "replies" to the reply
events. With -v1 it publishes the contract v1 stream: opened, first_reply,
resolved with replies, reopened and survey.answered only.

It publishes -backfill of history at once, then follows the clock; with
-rate it publishes as fast as that instead, for load.

Every flag is also read from the environment variable shown beside it.

Flags:
`
