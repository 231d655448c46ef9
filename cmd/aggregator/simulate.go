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
// v1 stream, of a healthy team unless -overloaded asks for one in crisis.
// By default it first publishes -backfill of history at once, then follows
// the clock, publishing each event when its time comes, so a live
// aggregator sees a realistic day. With -rate it publishes as fast as that
// instead, for load.
//
// Started again on a stream that holds its run already, it resumes: the
// same Config (the start read back from the stream) gives the same
// messages, and the Generator skips those stored, so no number changes. A
// stream that holds another run is refused: adding a second helpdesk to
// it would change every number.
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
	backfill := fs.Duration("backfill", 24*time.Hour, "history to publish at once before following the clock (ignored when resuming)")
	rate := fs.Float64("rate", 0, "messages per second, ignoring event times (for load); 0 follows the clock")
	count := fs.Int("count", 0, "messages to publish; 0 means until interrupted")
	seed := fs.Uint64("seed", def.Seed, "random seed; the same seed gives the same stream")
	dups := fs.Float64("duplicates", def.DuplicateShare, "share of messages re-sent with the same id (publish retries)")
	disorder := fs.Float64("disorder", def.DisorderShare, "share of events sent after some of their successors")
	v1 := fs.Bool("v1", false, "publish the contract v1 stream instead of v2 (for a seed, the same messages as before v2, so always of the overloaded team)")
	overloaded := fs.Bool("overloaded", false, "simulate a team in crisis: the backlog grows for days and the SLA alerts fire")
	if err := parseArgs(fs, args, stdout, simulateUsage, true); err != nil {
		return err
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if *backfill < 0 {
		return fmt.Errorf("-backfill %v: must not be negative", *backfill)
	}
	cfg := simulate.Config{
		Seed:           *seed,
		Start:          time.Now().Add(-*backfill),
		TicketsPerHour: *perHour,
		DuplicateShare: *dups,
		DisorderShare:  *disorder,
		V1:             *v1,
		Overloaded:     *overloaded,
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
	name, err := js.StreamNameBySubject(checkCtx, simulate.SubjectPrefix+"ticket.opened")
	if err != nil {
		return fmt.Errorf("no JetStream stream takes %s* at %s: start the aggregator first, which creates it, or create the stream: %w", simulate.SubjectPrefix, redactURLs(nc.ConnectedUrl()), err)
	}
	stream, err := js.Stream(checkCtx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	last, resume, err := simulate.LastStored(checkCtx, stream)
	if err != nil {
		return err
	}
	if resume {
		if last.Run != cfg.Run() {
			return fmt.Errorf("stream %s holds another simulated helpdesk, %q, up to event time %s; this run (%q) would add a second one to every number. "+
				"Run simulate with the flags of that run to continue it, or start from an empty stream (stop the aggregator and remove its -data-dir)",
				name, last.Run, last.OccurredAt.Format(time.RFC3339), cfg.Run())
		}
		cfg.Start = last.Start
	}
	defer func() {
		if n := failed.Load(); n > 0 {
			fmt.Fprintf(stderr, "simulate: %d publishes failed\n", n)
		}
	}()
	gen := simulate.NewGenerator(cfg)
	fmt.Fprintf(stdout, "simulate: %s, publishing to %s\n", cfg.Run(), redactURLs(nc.ConnectedUrl()))
	if resume {
		gen.Skip(last.Position)
		fmt.Fprintf(stdout, "simulate: resuming: stream %s holds this run up to message %d (event time %s), started %s; publishing from message %d\n",
			name, last.Position, last.OccurredAt.Format(time.RFC3339), last.Start.Format(time.RFC3339), last.Position+1)
	}
	if *rate > 0 {
		n, err := simulate.Publish(ctx, js, gen, simulate.PublishConfig{Rate: *rate, Count: *count, Progress: stdout, Async: true})
		fmt.Fprintf(stdout, "simulate: published %d messages\n", n)
		return err
	}
	return followClock(ctx, js, gen, *count, stdout, time.Now)
}

// rateWindow is the span over which followClock reports the current rate.
const rateWindow = 10 * time.Second

// rateMeter gives the publish rate over about the last rateWindow, from
// samples of the count taken at each report.
type rateMeter struct {
	samples []rateSample // oldest first; the first at least rateWindow old, when there is one
}

type rateSample struct {
	at    time.Time
	count int
}

// rate records count at now and returns the rate since the latest sample
// at least rateWindow old (or the first sample).
func (r *rateMeter) rate(now time.Time, count int) float64 {
	r.samples = append(r.samples, rateSample{now, count})
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
	ref := r.samples[0]
	if d := now.Sub(ref.at).Seconds(); d > 0 {
		return float64(count-ref.count) / d
	}
	return 0
}

// followClock publishes each message once the wall clock reaches its event
// time: history at once, then live. It prints progress every 5 seconds
// with the rate of the last 10, and a line when the history is done.
func followClock(ctx context.Context, js jetstream.JetStream, gen *simulate.Generator, count int, out io.Writer, now func() time.Time) error {
	meter := rateMeter{samples: []rateSample{{now(), 0}}}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	published := 0
	live := false
	report := func(eventTime time.Time) {
		fmt.Fprintf(out, "simulate: %d published, %.1f/s now, event time %s\n",
			published, meter.rate(now(), published), eventTime.Format(time.RFC3339))
	}
	defer func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
		}
	}()
	for count == 0 || published < count {
		m := gen.Next()
		if wait := m.OccurredAt.Sub(now()); wait > 0 {
			if !live {
				live = true
				fmt.Fprintf(out, "simulate: backfill done: %d events up to %s; now publishing live\n", published, now().Format(time.RFC3339))
			}
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
		msg := gen.NATSMsg(m)
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
	report(now())
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

The team is healthy: resolutions keep pace with new tickets, so the
backlog levels off within the first day, and about 92% of first replies
and 97% of resolutions meet the default SLA targets. -overloaded
simulates a team in crisis instead, whose backlog grows for days and whose
SLA alerts fire.

It publishes -backfill of history at once, then follows the clock; with
-rate it publishes as fast as that instead, for load. Started again (after
Ctrl-C, say) with the same flags, it resumes where the stream ends, so no
number changes; on a stream that holds another run (another seed, say) it
refuses and says which flags continue that run.

Every flag is also read from the environment variable shown beside it.

Flags:
`
