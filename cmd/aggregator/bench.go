package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/helpdesk-kpi/aggregator/internal/natsserver"
	"github.com/helpdesk-kpi/aggregator/internal/simulate"
)

// runBench is `aggregator bench`: it preloads a stream with realistic
// events in a scratch embedded NATS server, measures how fast a bare
// ordered consumer drains it, then how fast the whole aggregator catches
// up on the same stream from start until ready, and prints both rates and
// their ratio.
func runBench(ctx context.Context, args []string, stdout, _ io.Writer) (err error) {
	fs := flag.NewFlagSet("aggregator bench", flag.ContinueOnError)
	n := fs.Int("events", 500_000, "messages to preload")
	seed := fs.Uint64("seed", 1, "random seed of the synthetic stream")
	v1 := fs.Bool("v1", false, "preload the contract v1 stream (no replies, customer messages, status changes or updates), as benches before v2 did")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the aggregator's catch-up to this file")
	sync := fs.String("sync", "", "fsync policy of the scratch NATS server: always, or an interval like 1s (default: the server's own, 2m)")
	if err := parseArgs(fs, args, stdout, benchUsage, false); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-events %d: must be at least 1", *n)
	}
	dir, err := os.MkdirTemp("", "aggregator-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory: nothing to do if it stays
	nsCfg := natsserver.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir + "/jetstream"}
	switch *sync {
	case "":
	case "always":
		nsCfg.SyncAlways = true
	default:
		if nsCfg.SyncInterval, err = time.ParseDuration(*sync); err != nil {
			return fmt.Errorf("-sync %q: want always or a duration like 1s", *sync)
		}
	}
	srv, err := natsserver.Start(nsCfg)
	if err != nil {
		return err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.Ingest.Stream, Subjects: cfg.Ingest.Subjects, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}

	// 5,000 tickets an hour: the preload spans about a day of event time.
	// It must end before now, or the events past now (plus the clock
	// skew) are rejected as from the future and the bench measures
	// dead-lettering instead of catching up. The steady-state rate
	// underestimates the span (resolutions trail their openings, so the
	// stream's first hours are thinner), hence twice the estimate.
	simCfg := simulate.Config{Seed: *seed, TicketsPerHour: 5000, DuplicateShare: 0.01, DisorderShare: 0.02, V1: *v1}
	span := time.Duration(float64(*n) / simCfg.RealTimeRate() * float64(time.Second))
	simCfg.Start = time.Now().Add(-2*span - time.Hour)
	fmt.Fprintf(stdout, "bench: preloading %d events (%s of event time)\n", *n, span.Round(time.Minute))
	if err := simulate.Preload(ctx, js, simulate.NewGenerator(simCfg), *n, stdout); err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	stored := info.State.Msgs
	fmt.Fprintf(stdout, "bench: stream holds %d messages (%.0f MB); publish retries were dropped by JetStream\n", stored, float64(info.State.Bytes)/1e6)

	bare, err := bareConsume(ctx, stream, stored)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench: bare ordered consumer: %d messages in %v = %.0f msg/s\n", stored, bare.Round(time.Millisecond), float64(stored)/bare.Seconds())

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("write -cpuprofile: %w", cerr)
			}
		}()
	}
	catchUp, heap, err := aggregatorCatchUp(ctx, srv.ClientURL(), dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench: aggregator catch-up from start to ready: %v = %.0f msg/s (heap after: %.0f MB)\n",
		catchUp.Round(time.Millisecond), float64(stored)/catchUp.Seconds(), float64(heap)/1e6)
	fmt.Fprintf(stdout, "bench: ratio aggregator/bare = %.2f\n", bare.Seconds()/catchUp.Seconds())
	return nil
}

// bareConsume drains n messages with an ordered consumer, doing nothing
// with them: the ceiling for any consumer of this stream here.
func bareConsume(ctx context.Context, stream jetstream.Stream, n uint64) (time.Duration, error) {
	start := time.Now()
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for range n {
		if _, err := it.Next(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// aggregatorCatchUp runs the aggregator against natsURL and times it from
// start until /readyz says it has caught up.
func aggregatorCatchUp(ctx context.Context, natsURL, dir string) (time.Duration, uint64, error) {
	cfg := DefaultConfig()
	cfg.NATSURL = natsURL
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = dir + "/aggregator"
	addr := make(chan string, 1)
	cfg.listening = func(a string) { addr <- a }
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, zerolog.Nop(), prometheus.NewRegistry()) }()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a + "/readyz"
	case err := <-done:
		return 0, 0, fmt.Errorf("aggregator stopped: %w", err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close() // only the status matters
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case err := <-done:
			return 0, 0, fmt.Errorf("aggregator stopped before catching up: %w", err)
		case <-tick.C:
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stop()
	return elapsed, ms.HeapAlloc, <-done
}

const benchUsage = `Usage: aggregator bench [flags]

Preloads a scratch embedded NATS server with a synthetic stream, measures
how fast a bare ordered consumer drains it, then how fast the aggregator
catches up on it from start until ready, and prints both rates and their
ratio.

Flags:
`
