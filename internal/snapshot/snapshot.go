// Package snapshot makes aggregation state durable: it frames an encoded
// state with a version, the stream sequence it includes and a checksum,
// writes it so that a crash at any moment leaves the previous snapshot
// intact, and finds the newest good one on start.
//
// It does not know what the state means (package kpi encodes it) nor when
// to take one (the engine decides).
package snapshot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Version is the format version written. Snapshots of a newer version are
// refused: this binary cannot read them, and must not overwrite them.
const Version = 1

const (
	magic      = "HDKPISNP"
	headerSize = len(magic) + 2 + 2 + 8 + 8 + 8
	prefix     = "snapshot-"
	suffix     = ".bin"
	// keep is how many good snapshots stay: the newest and its
	// predecessor, in case the newest turns out unreadable.
	keep = 2
)

// ErrNewerVersion is returned by Load for a snapshot this binary is too
// old to read.
var ErrNewerVersion = errors.New("snapshot written by a newer version of the aggregator")

// Store holds named blobs: a directory, or a JetStream object store.
type Store interface {
	// Put stores data under name durably: when Put returns nil the data
	// survives a crash; when it fails, what was stored before is intact.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the data stored under name.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names stored.
	List(ctx context.Context) ([]string, error)
	// Delete removes name.
	Delete(ctx context.Context, name string) error
	// String describes the store for logs, like "dir data/snapshots".
	String() string
}

// Snapshot is one decoded snapshot.
type Snapshot struct {
	// Seq is the last stream sequence whose message the state includes.
	Seq uint64
	// TakenAt is when the state was encoded.
	TakenAt time.Time
	// State is the encoded state.
	State []byte
}

// Encode frames s for storage.
func Encode(s Snapshot) []byte {
	return Seal(append(NewBuffer(len(s.State)), s.State...), s.Seq, s.TakenAt)
}

// NewBuffer returns an empty snapshot with room for stateSize bytes of
// state: append the encoded state to it, then Seal it. Encoding straight
// into the frame saves copying a state of hundreds of megabytes.
func NewBuffer(stateSize int) []byte {
	return make([]byte, headerSize, headerSize+stateSize+4)
}

// Seal completes a buffer from NewBuffer, with the state appended, into a
// snapshot of stream sequence seq taken at takenAt.
func Seal(b []byte, seq uint64, takenAt time.Time) []byte {
	h := b[:0]
	h = append(h, magic...)
	h = binary.LittleEndian.AppendUint16(h, Version)
	h = binary.LittleEndian.AppendUint16(h, 0) // flags, none yet
	h = binary.LittleEndian.AppendUint64(h, seq)
	h = binary.LittleEndian.AppendUint64(h, uint64(takenAt.UnixNano()))
	binary.LittleEndian.AppendUint64(h, uint64(len(b)-headerSize))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// Decode checks and unframes data. The returned State aliases data.
func Decode(data []byte) (Snapshot, error) {
	if len(data) < headerSize+4 || string(data[:len(magic)]) != magic {
		return Snapshot{}, errors.New("not a snapshot, or truncated")
	}
	v := binary.LittleEndian.Uint16(data[8:])
	if v > Version {
		return Snapshot{}, fmt.Errorf("%w (format %d; this binary reads up to %d): upgrade the aggregator, or move the snapshot away to rebuild from the stream", ErrNewerVersion, v, Version)
	}
	if v < 1 {
		return Snapshot{}, fmt.Errorf("unknown snapshot format %d", v)
	}
	n := binary.LittleEndian.Uint64(data[28:])
	if n != uint64(len(data)-headerSize-4) {
		return Snapshot{}, fmt.Errorf("length %d does not match the file (%d bytes): truncated or corrupt", n, len(data))
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return Snapshot{}, errors.New("checksum mismatch: corrupt")
	}
	return Snapshot{
		Seq:     binary.LittleEndian.Uint64(data[12:]),
		TakenAt: time.Unix(0, int64(binary.LittleEndian.Uint64(data[20:]))),
		State:   data[headerSize : len(data)-4],
	}, nil
}

// name returns the store name of a snapshot including seq; names sort by
// sequence.
func name(seq uint64) string { return fmt.Sprintf("%s%020d%s", prefix, seq, suffix) }

func seqOf(n string) (uint64, bool) {
	s, ok := strings.CutPrefix(n, prefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, suffix)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Manager saves and loads snapshots in one store.
type Manager struct {
	store   Store
	log     zerolog.Logger
	metrics *metrics
}

type metrics struct {
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	size        prometheus.Gauge
	failures    prometheus.Counter
	corrupt     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "helpdesk_snapshot_last_success_timestamp_seconds",
			Help: "When the last snapshot was written durably (0 before the first).",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "helpdesk_snapshot_write_duration_seconds",
			Help: "How long the last snapshot took to encode and write.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "helpdesk_snapshot_size_bytes",
			Help: "Size of the last snapshot written.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helpdesk_snapshot_failures_total",
			Help: "Snapshots that could not be written; the previous one stays in place.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helpdesk_snapshot_corrupt_total",
			Help: "Snapshots found unreadable on start and skipped.",
		}),
	}
	reg.MustRegister(m.lastSuccess, m.duration, m.size, m.failures, m.corrupt)
	return m
}

// NewManager returns a manager of the snapshots in store.
func NewManager(store Store, log zerolog.Logger, reg prometheus.Registerer) *Manager {
	return &Manager{store: store, log: log.With().Str("component", "snapshot").Logger(), metrics: newMetrics(reg)}
}

// Save stores s durably, then removes snapshots older than the one before
// it. encodeTime is how long encoding the state took, for the duration
// metric. On failure the snapshots stored before are intact.
func (m *Manager) Save(ctx context.Context, s Snapshot, encodeTime time.Duration) error {
	return m.SaveSealed(ctx, s.Seq, Encode(s), encodeTime)
}

// SaveSealed is Save for a snapshot already framed with NewBuffer and
// Seal.
func (m *Manager) SaveSealed(ctx context.Context, seq uint64, data []byte, encodeTime time.Duration) error {
	start := time.Now()
	s := Snapshot{Seq: seq}
	if err := m.store.Put(ctx, name(s.Seq), data); err != nil {
		m.metrics.failures.Inc()
		return fmt.Errorf("write snapshot at stream sequence %d to %s: %w", s.Seq, m.store, err)
	}
	took := encodeTime + time.Since(start)
	m.metrics.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	m.metrics.duration.Set(took.Seconds())
	m.metrics.size.Set(float64(len(data)))
	m.log.Info().Uint64("stream_seq", s.Seq).Int("bytes", len(data)).Dur("took", took).Msg("snapshot written")
	names, err := m.sorted(ctx)
	if err != nil {
		return nil // written; pruning can wait for the next one
	}
	for i, n := range names {
		if seq, _ := seqOf(n); i >= keep && seq < s.Seq {
			if err := m.store.Delete(ctx, n); err != nil {
				m.log.Warn().Err(err).Str("snapshot", n).Msg("could not remove an old snapshot")
			}
		}
	}
	return nil
}

// sorted lists snapshot names, newest first.
func (m *Manager) sorted(ctx context.Context) ([]string, error) {
	all, err := m.store.List(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range all {
		if _, ok := seqOf(n); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	slices.Reverse(names)
	return names, nil
}

// Load returns the newest good snapshot, skipping (and logging) unreadable
// ones; ok is false when there is none, and the state must be rebuilt from
// the stream. A snapshot of a newer format stops the search with
// ErrNewerVersion.
func (m *Manager) Load(ctx context.Context) (s Snapshot, ok bool, err error) {
	names, err := m.sorted(ctx)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("list snapshots in %s: %w", m.store, err)
	}
	for _, n := range names {
		data, err := m.store.Get(ctx, n)
		if err == nil {
			s, err = Decode(data)
		}
		if errors.Is(err, ErrNewerVersion) {
			return Snapshot{}, false, fmt.Errorf("snapshot %s in %s: %w", n, m.store, err)
		}
		if err != nil {
			m.metrics.corrupt.Inc()
			m.log.Error().Err(err).Str("snapshot", n).Str("store", m.store.String()).
				Msg("skipping unreadable snapshot; trying the one before it, or rebuilding from the stream")
			continue
		}
		if want, _ := seqOf(n); want != s.Seq {
			m.metrics.corrupt.Inc()
			m.log.Error().Str("snapshot", n).Uint64("stream_seq", s.Seq).Msg("skipping snapshot whose name and contents disagree")
			continue
		}
		m.metrics.lastSuccess.Set(float64(s.TakenAt.UnixNano()) / 1e9)
		return s, true, nil
	}
	return Snapshot{}, false, nil
}

// Corrupt counts a snapshot that decoded but could not be restored, so
// that the caller's fallback shows in the same metric.
func (m *Manager) Corrupt() { m.metrics.corrupt.Inc() }
