// Command aggregator turns a JetStream stream of helpdesk events into live
// KPI gauges for Prometheus.
//
//	aggregator              run with an embedded NATS server (the default)
//	aggregator -nats-url …  run against an existing NATS
//	aggregator simulate …   publish a synthetic helpdesk stream
//	aggregator bench …      measure catch-up speed against a bare consumer
//
// Every flag is also read from an AGGREGATOR_-prefixed environment variable;
// `aggregator -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // business-hours time zones work on images without zoneinfo

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain runs the program until SIGINT or SIGTERM and returns its exit
// code: 0 after -h and -version too.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(dispatch(ctx, args, getenv, stdout, stderr), stderr)
}

// exitCode prints err, unless it is -h, and returns the exit code.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "aggregator:", err)
		return 1
	}
}

// dispatch runs the subcommand named by args[0], or the aggregator.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "simulate":
			return runSimulate(ctx, args[1:], getenv, stdout, stderr)
		case "bench":
			return runBench(ctx, args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, getenv, stdout)
	if errors.Is(err, errVersion) {
		fmt.Fprintln(stdout, currentBuild())
		return nil
	}
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	limit, source, err := memoryLimit(cfg.MemoryLimit, getenv, osReadFile)
	if err != nil {
		return err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		logger.Info().Int64("memory_limit_bytes", l).Str("source", source).Msg("Go heap soft memory limit set")
	} else {
		logger.Info().Str("source", source).Msg("no Go heap soft memory limit; set -memory-limit or GOMEMLIMIT in a container without a memory limit")
	}
	return run(ctx, cfg, logger, newRegistry(currentBuild()))
}

// newRegistry is the program's registry: the Go runtime, the process and
// the build; run adds the rest.
func newRegistry(b build) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newBuildInfo(b))
	return reg
}

func newLogger(cfg Config, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("-log-level: %w", err)
	}
	if cfg.LogFormat == "console" {
		// Colours only on a terminal: a pipe, a file or a log collector
		// gets no ANSI escapes.
		w = zerolog.ConsoleWriter{Out: w, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal says whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
