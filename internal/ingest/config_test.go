package ingest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// TestNewValidates: New refuses a configuration it cannot run with, naming
// the field, before it touches NATS.
func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"stream name with a dot", func(c *Config) { c.Stream = "A.B" }, `stream.name: "A.B": must be a non-empty stream name without '.', ' ', '*' or '>'`},
		{"no subjects", func(c *Config) { c.Subjects = nil }, "stream.subjects: at least one subject is needed"},
		{"empty batches", func(c *Config) { c.BatchSize = 0 }, "batch_size: 0: must be at least 1"},
		{"no regression check", func(c *Config) { c.RegressionCheck = 0 }, "regression_check: 0s: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			_, err := New(cfg, 5*time.Minute, nil, zerolog.Nop(), prometheus.NewRegistry(), time.Now)
			require.EqualError(t, err, tc.want)
		})
	}
	require.NoError(t, func() *Config { c := DefaultConfig(); return &c }().Validate())
}
