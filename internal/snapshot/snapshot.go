// Package snapshot makes aggregation state durable: it frames an encoded
// state with a version, the stream sequence it includes (and which
// incarnation of the stream that sequence counts in), a generation that
// orders snapshots as they were written, and a checksum; writes it so that
// a crash at any moment leaves the previous snapshot intact; and finds the
// newest good one on start.
//
// It does not know what the state means (package kpi encodes it) nor when
// to take one (the engine decides).
package snapshot

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Version is the format version written. Version 1 snapshots are still
// read (and are older than any of version 2). A snapshot of a newer
// version is passed over like a corrupt one; when no snapshot at all is
// usable and one of them is of a newer version, Load refuses, so that this
// binary neither rebuilds over nor prunes away the state a newer one wrote.
//
// Version 3 may leave the state's length in the header unknown (all ones):
// a snapshot streamed as it is encoded (Manager.SaveStream) learns it only
// at the end; the checksum still covers every byte.
//
// Whatever the version, a snapshot starts with the magic and a
// little-endian uint16 version, and ends with a CRC-32C (Castagnoli) of
// everything before it; from version 2 on, the store name carries the
// generation and the stream sequence (see name). That much every version
// keeps, so that any binary can tell a corrupt snapshot from a newer one
// and order snapshots it cannot read.
const Version = 3

const (
	magic = "HDKPISNP"
	// headerV1 is the size of a version 1 header: magic, version, flags,
	// stream sequence, time taken, payload length.
	headerV1 = len(magic) + 2 + 2 + 8 + 8 + 8
	// headerSize is the size of the header written: version 1's, then the
	// generation and the stream's creation time.
	headerSize = headerV1 + 8 + 8
	prefix     = "snapshot-"
	suffix     = ".bin"
	// keep is how many snapshots stay: the newest and its predecessor,
	// in case the newest turns out unreadable.
	keep = 2
)

// ErrNewerVersion is returned by Decode for a snapshot this binary is too
// old to read, and by Load when nothing else is usable.
var ErrNewerVersion = errors.New("snapshot written by a newer version of the aggregator")

// unknownLength in the header's length field says the state runs to the
// checksum (version 3).
const unknownLength = ^uint64(0)

// StreamStore is a Store that can also take a blob as it is produced.
type StreamStore interface {
	Store
	// PutFrom is Put of everything r yields until io.EOF. An error from r
	// stores nothing.
	PutFrom(ctx context.Context, name string, r io.Reader) error
}

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

// Header is what a snapshot says about the state it holds.
type Header struct {
	// Version is the format version the snapshot was read in; Seal
	// always writes Version.
	Version uint16
	// Seq is the last stream sequence whose message the state includes.
	Seq uint64
	// TakenAt is when the state was encoded, by the aggregator's clock.
	TakenAt time.Time
	// Generation orders snapshots: one written later has a higher one,
	// whatever its Seq, which starts again at 1 when the stream is
	// recreated. Manager assigns it; version 1 snapshots have none (0).
	Generation uint64
	// StreamCreated is when the stream that Seq counts in was created, as
	// its info reports it: a stream deleted and created again under the
	// same name has another. Zero when unknown (version 1, or nothing
	// read from any stream yet).
	StreamCreated time.Time
}

// Snapshot is one decoded snapshot.
type Snapshot struct {
	Header
	// State is the encoded state.
	State []byte
}

// Encode frames s for storage, with the generation s holds.
func Encode(s Snapshot) []byte {
	return Seal(append(NewBuffer(len(s.State)), s.State...), s.Header)
}

// NewBuffer returns an empty snapshot with room for stateSize bytes of
// state: append the encoded state to it, then Seal it. Encoding straight
// into the frame saves copying a state of hundreds of megabytes.
func NewBuffer(stateSize int) []byte {
	return make([]byte, headerSize, headerSize+stateSize+4)
}

// Seal completes a buffer from NewBuffer, with the state appended, into a
// snapshot with header h (its Version is ignored). Manager.Seal assigns
// the generation; use it for snapshots that Manager saves.
func Seal(b []byte, h Header) []byte {
	copy(b, header(h, uint64(len(b)-headerSize)))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// Decode checks and unframes data. The checksum is checked first, so that
// damage anywhere, the version field included, reads as corruption; only
// an intact snapshot of a newer format returns ErrNewerVersion. The
// returned State aliases data.
func Decode(data []byte) (Snapshot, error) {
	if len(data) < len(magic)+2+4 || string(data[:len(magic)]) != magic {
		return Snapshot{}, errors.New("not a snapshot, or truncated")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return Snapshot{}, errors.New("checksum mismatch: the file is truncated or corrupt")
	}
	h, size, err := parseHeader(body)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Header: h, State: body[size:]}, nil
}

// parseHeader reads the header of a snapshot without its checksum, and
// returns it with its size.
func parseHeader(body []byte) (Header, int, error) {
	if len(body) < len(magic)+2 || string(body[:len(magic)]) != magic {
		return Header{}, 0, errors.New("not a snapshot, or truncated")
	}
	v := binary.LittleEndian.Uint16(body[8:])
	size := headerSize
	switch {
	case v > Version:
		return Header{}, 0, fmt.Errorf("%w (format %d; this binary reads up to %d): upgrade the aggregator, or move the snapshot away to rebuild from the stream", ErrNewerVersion, v, Version)
	case v < 1:
		return Header{}, 0, fmt.Errorf("unknown snapshot format %d: corrupt", v)
	case v == 1:
		size = headerV1
	}
	if len(body) < size {
		return Header{}, 0, fmt.Errorf("header of %d bytes, format %d needs %d: truncated or corrupt", len(body), v, size)
	}
	if f := binary.LittleEndian.Uint16(body[10:]); f != 0 {
		// No flag is defined yet: an intact snapshot with one was written
		// by a newer version that needs it understood.
		return Header{}, 0, fmt.Errorf("%w (format %d with flags %#x this binary does not know): upgrade the aggregator, or move the snapshot away to rebuild from the stream", ErrNewerVersion, v, f)
	}
	if n := binary.LittleEndian.Uint64(body[28:]); n != uint64(len(body)-size) && (v < 3 || n != unknownLength) {
		return Header{}, 0, fmt.Errorf("length %d does not match the file (%d bytes): truncated or corrupt", n, len(body)+4)
	}
	h := Header{
		Version: v,
		Seq:     binary.LittleEndian.Uint64(body[12:]),
		TakenAt: time.Unix(0, int64(binary.LittleEndian.Uint64(body[20:]))),
	}
	if v >= 2 {
		h.Generation = binary.LittleEndian.Uint64(body[36:])
		if created := int64(binary.LittleEndian.Uint64(body[44:])); created != 0 {
			h.StreamCreated = time.Unix(0, created)
		}
	}
	return h, size, nil
}

// name returns the store name of a snapshot of generation gen including
// stream sequence seq. Names sort as snapshots are ordered: by
// generation, then sequence; every version 1 name ("snapshot-<seq>.bin")
// sorts before them.
func name(gen, seq uint64) string { return fmt.Sprintf("%sg%020d-s%020d%s", prefix, gen, seq, suffix) }

// entry is a snapshot's name, parsed.
type entry struct {
	name     string
	gen, seq uint64
	v1       bool // a version 1 name, without generation
}

func parseName(n string) (entry, bool) {
	s, ok := strings.CutPrefix(n, prefix)
	if !ok {
		return entry{}, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok {
		return entry{}, false
	}
	if g, sq, ok := strings.Cut(s, "-s"); ok {
		g, ok := strings.CutPrefix(g, "g")
		gen, err1 := strconv.ParseUint(g, 10, 64)
		seq, err2 := strconv.ParseUint(sq, 10, 64)
		return entry{name: n, gen: gen, seq: seq}, ok && err1 == nil && err2 == nil
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return entry{name: n, seq: seq, v1: true}, err == nil
}

// compare orders a before b (-1) when a is older.
func (a entry) compare(b entry) int {
	if a.v1 != b.v1 {
		if a.v1 {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.gen, b.gen), cmp.Compare(a.seq, b.seq))
}

// describes reports whether h is the header of the snapshot named a.
func (a entry) describes(h Header) bool {
	return a.seq == h.Seq && a.gen == h.Generation && a.v1 == (h.Version == 1)
}

// Manager saves and loads snapshots in one store. It numbers the
// snapshots it seals with generations above every one stored, so the one
// written last is always the newest.
type Manager struct {
	store   Store
	log     zerolog.Logger
	metrics *metrics

	// generation is the highest generation stored or handed out.
	generation atomic.Uint64

	mu sync.Mutex
	// unusable are the snapshots Load found corrupt or of a newer
	// version; the next snapshot written makes them prunable.
	unusable map[string]bool
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

// NewManager returns a manager of the snapshots in store. Call Load
// before sealing or saving: it learns the generations stored.
func NewManager(store Store, log zerolog.Logger, reg prometheus.Registerer) *Manager {
	return &Manager{store: store, log: log.With().Str("component", "snapshot").Logger(), metrics: newMetrics(reg),
		unusable: map[string]bool{}}
}

// Seal is the package's Seal with the next generation: higher than that
// of every snapshot stored when Load ran, and of every one sealed since.
func (m *Manager) Seal(b []byte, h Header) []byte {
	h.Generation = m.generation.Add(1)
	return Seal(b, h)
}

// observe raises the generation to at least gen.
func (m *Manager) observe(gen uint64) {
	for {
		cur := m.generation.Load()
		if gen <= cur || m.generation.CompareAndSwap(cur, gen) {
			return
		}
	}
}

// Save stores s durably with the next generation (whatever s holds), then
// prunes older snapshots. encodeTime is how long encoding the state took,
// for the duration metric. On failure the snapshots stored before are
// intact.
func (m *Manager) Save(ctx context.Context, s Snapshot, encodeTime time.Duration) error {
	return m.SaveSealed(ctx, s.Seq, m.Seal(append(NewBuffer(len(s.State)), s.State...), s.Header), encodeTime)
}

// SaveSealed is Save for a snapshot of stream sequence seq already framed
// with NewBuffer and Manager.Seal.
func (m *Manager) SaveSealed(ctx context.Context, seq uint64, data []byte, encodeTime time.Duration) error {
	start := time.Now()
	h, _, err := parseHeader(data[:max(len(data), 4)-4])
	if err == nil && (h.Seq != seq || h.Version != Version) {
		err = fmt.Errorf("its header says stream sequence %d, format %d", h.Seq, h.Version)
	}
	if err != nil {
		return fmt.Errorf("BUG: SaveSealed at stream sequence %d of data not sealed there by Seal: %w", seq, err)
	}
	if err := m.store.Put(ctx, name(h.Generation, h.Seq), data); err != nil {
		return m.failed(h, err)
	}
	m.stored(ctx, h, int64(len(data)), encodeTime+time.Since(start))
	return nil
}

// failed counts and wraps the failure to store the snapshot with header h.
func (m *Manager) failed(h Header, err error) error {
	m.metrics.failures.Inc()
	return fmt.Errorf("write snapshot at stream sequence %d to %s: %w", h.Seq, m.store, err)
}

// stored records that the snapshot with header h, of size bytes, is stored
// and took took to encode and store, then prunes the older ones.
func (m *Manager) stored(ctx context.Context, h Header, size int64, took time.Duration) {
	m.metrics.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	m.metrics.duration.Set(took.Seconds())
	m.metrics.size.Set(float64(size))
	m.log.Info().Uint64("stream_seq", h.Seq).Uint64("generation", h.Generation).Int64("bytes", size).Float64("took_seconds", took.Seconds()).
		Msg("snapshot written")
	m.prune(ctx, entry{name: name(h.Generation, h.Seq), gen: h.Generation, seq: h.Seq})
}

// Confirm records that the newest snapshot (or, before the first, the
// empty state) still holds the whole state: nothing was applied since.
// It counts as a successful snapshot without a write, so that
// helpdesk_snapshot_last_success_timestamp_seconds says "durable as of"
// through a quiet period.
func (m *Manager) Confirm() { m.metrics.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9) }

// streamStall is how long SaveStream waits for the store to take the next
// bytes before it gives up on the snapshot: the engine's loop encodes into
// it, and must not hang on a stuck disk.
const streamStall = 10 * time.Second

// SaveStream stores, with the next generation, a snapshot with header h
// whose state encode writes to the writer it is given, then prunes older
// snapshots, like Save; but the state is handed to the store as it is
// encoded, so it is never held whole in memory. encode runs on the
// caller's goroutine, which SaveStream returns to once encode has returned
// (or the store gave up); the store finishes (flushes, syncs, renames) on
// its own, and the returned channel yields its result. A store that takes
// no bytes for streamStall fails the snapshot. A store that is not a
// StreamStore gets the snapshot whole.
func (m *Manager) SaveStream(ctx context.Context, h Header, encode func(io.Writer) error) <-chan error {
	start := time.Now()
	h.Generation = m.generation.Add(1)
	n := name(h.Generation, h.Seq)
	pr, pw := io.Pipe()
	stall := time.AfterFunc(streamStall, func() {
		pw.CloseWithError(fmt.Errorf("the store took nothing for %v: stuck or too slow", streamStall))
	})
	in := &progressReader{r: pr, stall: stall}
	result := make(chan error, 1)
	go func() {
		var err error
		if ss, ok := m.store.(StreamStore); ok {
			err = ss.PutFrom(ctx, n, in)
		} else {
			var data []byte
			if data, err = io.ReadAll(in); err == nil {
				err = m.store.Put(ctx, n, data)
			}
		}
		stall.Stop()
		if err != nil {
			pr.CloseWithError(err) // the encoder stops writing
			result <- m.failed(h, err)
			return
		}
		m.stored(ctx, h, in.n, time.Since(start))
		result <- nil
	}()

	fw := &frameWriter{w: bufio.NewWriterSize(pw, 256<<10), crc: crc32.MakeTable(crc32.Castagnoli)}
	_, err := fw.Write(header(h, unknownLength))
	if err == nil {
		err = encode(fw)
	}
	if err == nil {
		err = fw.finish()
	}
	pw.CloseWithError(err) // nil: the store reads io.EOF
	return result
}

// header returns the header of a snapshot of state length n.
func header(h Header, n uint64) []byte {
	var created int64
	if !h.StreamCreated.IsZero() {
		created = h.StreamCreated.UnixNano()
	}
	w := make([]byte, 0, headerSize)
	w = append(w, magic...)
	w = binary.LittleEndian.AppendUint16(w, Version)
	w = binary.LittleEndian.AppendUint16(w, 0) // flags, none yet
	w = binary.LittleEndian.AppendUint64(w, h.Seq)
	w = binary.LittleEndian.AppendUint64(w, uint64(h.TakenAt.UnixNano()))
	w = binary.LittleEndian.AppendUint64(w, n)
	w = binary.LittleEndian.AppendUint64(w, h.Generation)
	return binary.LittleEndian.AppendUint64(w, uint64(created))
}

// frameWriter checksums what it writes; finish appends the checksum.
type frameWriter struct {
	w   *bufio.Writer
	crc *crc32.Table
	sum uint32
}

func (f *frameWriter) Write(b []byte) (int, error) {
	f.sum = crc32.Update(f.sum, f.crc, b)
	return f.w.Write(b)
}

func (f *frameWriter) finish() error {
	if _, err := f.w.Write(binary.LittleEndian.AppendUint32(nil, f.sum)); err != nil {
		return err
	}
	return f.w.Flush()
}

// progressReader counts what the store reads, and puts off the stall
// timer with every read.
type progressReader struct {
	r     io.Reader
	stall *time.Timer
	n     int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.stall.Reset(streamStall)
	return n, err
}

// prune removes what is older than the keep newest snapshots, written
// among them, and unusable snapshots older than written. Snapshots newer
// than written (another writer's) stay.
func (m *Manager) prune(ctx context.Context, written entry) {
	entries, err := m.sorted(ctx)
	if err != nil {
		return // written; pruning can wait for the next one
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := 0
	for _, e := range entries {
		m.observe(e.gen)
		switch {
		case e.compare(written) >= 0:
			kept++
			continue
		case !m.unusable[e.name] && kept < keep:
			kept++
			continue
		}
		if err := m.store.Delete(ctx, e.name); err != nil {
			m.log.Warn().Err(err).Str("snapshot", e.name).Msg("could not remove an old snapshot")
			continue
		}
		delete(m.unusable, e.name)
	}
}

// sorted lists snapshots, newest first.
func (m *Manager) sorted(ctx context.Context) ([]entry, error) {
	all, err := m.store.List(ctx)
	if err != nil {
		return nil, err
	}
	var entries []entry
	for _, n := range all {
		if e, ok := parseName(n); ok {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return b.compare(a) })
	return entries, nil
}

// Load returns the newest usable snapshot, passing over (logging and
// counting) every one that is not: unreadable, corrupt, or of a newer
// format. ok is false when there is none, and the state must be rebuilt
// from the stream; but when one of those passed over is an intact
// snapshot of a newer format, Load returns ErrNewerVersion instead: this
// binary must not replace a newer one's state with a rebuild.
func (m *Manager) Load(ctx context.Context) (s Snapshot, ok bool, err error) {
	entries, err := m.sorted(ctx)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("list snapshots in %s: %w", m.store, err)
	}
	for _, e := range entries {
		m.observe(e.gen)
	}
	var newer error
	for _, e := range entries {
		data, err := m.store.Get(ctx, e.name)
		if err != nil {
			m.metrics.corrupt.Inc()
			m.log.Error().Err(err).Str("snapshot", e.name).Str("store", m.store.String()).
				Msg("skipping a snapshot that cannot be read; trying the one before it, or rebuilding from the stream")
			continue
		}
		s, err = Decode(data)
		if err == nil && !e.describes(s.Header) {
			err = fmt.Errorf("its name and contents disagree (generation %d, stream sequence %d inside): renamed or corrupt", s.Generation, s.Seq)
		}
		if err != nil {
			m.metrics.corrupt.Inc()
			m.mu.Lock()
			m.unusable[e.name] = true
			m.mu.Unlock()
			if errors.Is(err, ErrNewerVersion) {
				if newer == nil {
					newer = fmt.Errorf("snapshot %s in %s: %w", e.name, m.store, err)
				}
				m.log.Error().Err(err).Str("snapshot", e.name).Str("store", m.store.String()).
					Msg("skipping a snapshot written by a newer version of the aggregator (rolled back?); trying the one before it")
				continue
			}
			m.log.Error().Err(err).Str("snapshot", e.name).Str("store", m.store.String()).
				Msg("skipping unreadable snapshot; trying the one before it, or rebuilding from the stream")
			continue
		}
		m.metrics.lastSuccess.Set(float64(s.TakenAt.UnixNano()) / 1e9)
		return s, true, nil
	}
	if newer != nil {
		return Snapshot{}, false, fmt.Errorf("no snapshot this binary can read: %w", newer)
	}
	return Snapshot{}, false, nil
}

// Corrupt counts a snapshot that decoded but could not be restored, so
// that the caller's fallback shows in the same metric.
func (m *Manager) Corrupt() { m.metrics.corrupt.Inc() }
