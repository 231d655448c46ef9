package ingest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config says which stream to read and how.
type Config struct {
	// Stream is the stream name, HELPDESK_EVENTS by default.
	Stream string
	// Subjects are the stream's subjects when the consumer creates it.
	Subjects []string
	// CreateStream creates the stream (and the dead-letter stream) when
	// missing.
	CreateStream bool
	// MaxAge is how long the created stream keeps messages; zero keeps
	// them until limits say otherwise.
	MaxAge time.Duration
	// DeadLetterSubject receives a copy of every rejected message,
	// published to JetStream: a stream must store it.
	DeadLetterSubject string
	// DeadLetterStream, when CreateStream is set, is created to keep the
	// dead letters whenever it is missing: at start, and when a copy
	// finds no stream.
	DeadLetterStream string
	// DeadLetterTimeout bounds how long the copy of one rejected message
	// waits for JetStream's acknowledgement (creating the dead-letter
	// stream included) before it counts as failed; zero means 5s.
	DeadLetterTimeout time.Duration
	// BatchSize is the most messages handed over at once.
	BatchSize int
	// RegressionCheck is how often the stream is checked for having been
	// recreated, or gone behind what was applied, while nothing arrives.
	RegressionCheck time.Duration
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Stream:            "HELPDESK_EVENTS",
		Subjects:          []string{"helpdesk.events.>"},
		CreateStream:      true,
		DeadLetterSubject: "helpdesk.deadletter",
		DeadLetterStream:  "HELPDESK_DEADLETTER",
		DeadLetterTimeout: 5 * time.Second,
		BatchSize:         512,
		RegressionCheck:   10 * time.Second,
	}
}

// Validate checks every field and names the one that is wrong by its
// configuration key, with what is allowed. New refuses a configuration
// that fails it.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Stream == "" || strings.ContainsAny(c.Stream, ". *>") {
		bad("stream.name", "%q: must be a non-empty stream name without '.', ' ', '*' or '>'", c.Stream)
	}
	if len(c.Subjects) == 0 {
		bad("stream.subjects", "at least one subject is needed")
	}
	if c.DeadLetterSubject == "" {
		bad("stream.dead_letter_subject", "must not be empty")
	}
	if c.MaxAge < 0 {
		bad("stream.max_age", "%v: must not be negative", c.MaxAge)
	}
	if c.BatchSize < 1 {
		bad("batch_size", "%d: must be at least 1", c.BatchSize)
	}
	if c.RegressionCheck <= 0 {
		bad("regression_check", "%v: must be positive", c.RegressionCheck)
	}
	return errors.Join(errs...)
}
