package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/helpdesk-kpi/aggregator/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var ctx = context.Background()

func snap(seq uint64, state string) Snapshot {
	return Snapshot{Header: Header{Seq: seq, TakenAt: time.Unix(1_700_000_000+int64(seq), 0)}, State: []byte(state)}
}

func newManager(_ *testing.T, store Store) (*Manager, *bytes.Buffer, *prometheus.Registry) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	return NewManager(store, zerolog.New(&logs), reg), &logs, reg
}

func TestSaveLoadKeepsTwo(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir, OS{})
	require.NoError(t, err)
	m, _, reg := newManager(t, d)
	_, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.False(t, ok, "nothing stored yet")
	for seq := uint64(10); seq <= 40; seq += 10 {
		require.NoError(t, m.Save(ctx, snap(seq, "state-"+string(rune('0'+seq/10))), 0))
	}
	names, err := d.List(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{name(3, 30), name(4, 40)}, names)
	got, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(40), got.Seq)
	require.Equal(t, "state-4", string(got.State))
	require.Equal(t, time.Unix(1_700_000_040, 0), got.TakenAt)
	require.Equal(t, float64(1_700_000_040), testutil.ToFloat64(m.metrics.lastSuccess))
	require.Equal(t, uint64(4), got.Generation)
	require.Equal(t, uint16(Version), got.Version)
	require.Equal(t, float64(len(Encode(snap(40, "state-4")))), testutil.ToFloat64(m.metrics.size))
	require.NotNil(t, reg)
}

func TestCorruptSnapshotsFallBack(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(b []byte) []byte
		wantLog string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
		{"flipped byte", func(b []byte) []byte { b[headerSize+2] ^= 0x40; return b }, "checksum mismatch"},
		{"empty file", func([]byte) []byte { return nil }, "not a snapshot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := NewDir(dir, OS{})
			require.NoError(t, err)
			m, logs, _ := newManager(t, d)
			require.NoError(t, m.Save(ctx, snap(5, "older"), 0))
			require.NoError(t, m.Save(ctx, snap(9, "newer"), 0))
			path := filepath.Join(dir, name(2, 9))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, tc.damage(data), 0o600))

			got, ok, err := m.Load(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, uint64(5), got.Seq, "the previous snapshot is used")
			require.Equal(t, "older", string(got.State))
			require.Contains(t, logs.String(), "skipping unreadable snapshot")
			require.Contains(t, logs.String(), tc.wantLog)
			require.Equal(t, 1.0, testutil.ToFloat64(m.metrics.corrupt))
		})
	}
	t.Run("both corrupt: rebuild", func(t *testing.T) {
		dir := t.TempDir()
		d, err := NewDir(dir, OS{})
		require.NoError(t, err)
		m, _, _ := newManager(t, d)
		require.NoError(t, m.Save(ctx, snap(5, "a"), 0))
		require.NoError(t, m.Save(ctx, snap(9, "b"), 0))
		for gen, seq := range map[uint64]uint64{1: 5, 2: 9} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name(gen, seq)), []byte("garbage"), 0o600))
		}
		_, ok, err := m.Load(ctx)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// newerVersion returns an intact snapshot of the format after this
// binary's, as a newer aggregator would write it.
func newerVersion(gen, seq uint64) []byte {
	data := Encode(Snapshot{Header: Header{Seq: seq, Generation: gen}, State: []byte("from the future")})
	binary.LittleEndian.PutUint16(data[8:], Version+1)
	body := data[:len(data)-4]
	binary.LittleEndian.PutUint32(data[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return data
}

// TestNewerVersion: an intact snapshot of a newer format is passed over
// when an older one is usable (a rollback replays from it), and stops
// the start when none is, so that an old binary never rebuilds over a
// newer one's state.
func TestNewerVersion(t *testing.T) {
	t.Run("an older one is usable", func(t *testing.T) {
		dir := t.TempDir()
		d, err := NewDir(dir, OS{})
		require.NoError(t, err)
		m, _, _ := newManager(t, d)
		require.NoError(t, m.Save(ctx, snap(5, "older"), 0))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name(2, 9)), newerVersion(2, 9), 0o600))

		restarted, logs, _ := newManager(t, d)
		got, ok, err := restarted.Load(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "older", string(got.State))
		require.Equal(t, 1.0, testutil.ToFloat64(restarted.metrics.corrupt))
		require.Contains(t, logs.String(), "written by a newer version")
		// What this binary writes next is newer than the newer version's
		// snapshot, so the next start does not go back to it.
		require.NoError(t, restarted.Save(ctx, snap(7, "rolled back"), 0))
		got, _, err = restarted.Load(ctx)
		require.NoError(t, err)
		require.Equal(t, "rolled back", string(got.State))
		require.Equal(t, uint64(3), got.Generation)
	})
	t.Run("nothing else is usable", func(t *testing.T) {
		dir := t.TempDir()
		d, err := NewDir(dir, OS{})
		require.NoError(t, err)
		m, _, _ := newManager(t, d)
		require.NoError(t, m.Save(ctx, snap(5, "older"), 0))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name(1, 5)), []byte("garbage"), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name(2, 9)), newerVersion(2, 9), 0o600))
		_, _, err = m.Load(ctx)
		require.ErrorIs(t, err, ErrNewerVersion)
		require.ErrorContains(t, err, "upgrade the aggregator")
	})
}

// encodeV1 frames a state in format version 1, as the aggregator did
// before snapshots carried a generation and the stream's creation time.
func encodeV1(seq uint64, takenAt time.Time, state string) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(takenAt.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(state)))
	b = append(b, state...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestVersion1SnapshotsAreRead: snapshots of format version 1 (named by
// sequence alone) are read, newest by sequence, and any snapshot written
// since is newer than all of them.
func TestVersion1SnapshotsAreRead(t *testing.T) {
	dir := t.TempDir()
	for _, seq := range []uint64{400, 500} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("snapshot-%020d.bin", seq)),
			encodeV1(seq, time.Unix(1_700_000_000, 0), fmt.Sprint("v1 at ", seq)), 0o600))
	}
	d, err := NewDir(dir, OS{})
	require.NoError(t, err)
	m, _, _ := newManager(t, d)
	got, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v1 at 500", string(got.State))
	require.Equal(t, Header{Version: 1, Seq: 500, TakenAt: time.Unix(1_700_000_000, 0)}, got.Header)

	require.NoError(t, m.Save(ctx, snap(20, "v2 at 20"), 0))
	got, _, err = m.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "v2 at 20", string(got.State))
	names, err := d.List(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"snapshot-00000000000000000500.bin", name(1, 20)}, names)
}

// TestHeaderRoundTrip: the generation and the stream's creation time
// survive encoding; an unknown creation time stays unknown.
func TestHeaderRoundTrip(t *testing.T) {
	created := time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)
	for _, h := range []Header{
		{Seq: 42, TakenAt: time.Unix(1_700_000_000, 5), Generation: 7, StreamCreated: created},
		{Seq: 1, TakenAt: time.Unix(1_700_000_000, 0), Generation: 1},
	} {
		got, err := Decode(Encode(Snapshot{Header: h, State: []byte("state")}))
		require.NoError(t, err)
		require.Equal(t, "state", string(got.State))
		require.Equal(t, uint16(Version), got.Version)
		require.Equal(t, h.Seq, got.Seq)
		require.Equal(t, h.Generation, got.Generation)
		require.True(t, h.TakenAt.Equal(got.TakenAt))
		require.True(t, h.StreamCreated.Equal(got.StreamCreated), "stream created %v, got %v", h.StreamCreated, got.StreamCreated)
		require.Equal(t, h.StreamCreated.IsZero(), got.StreamCreated.IsZero())
	}
}

// faultyFS fails one operation with an errno.
type faultyFS struct {
	OS
	failOn string // "create", "write", "sync", "rename", "syncdir"
	errno  syscall.Errno
}

type faultyFile struct {
	*os.File
	fs *faultyFS
}

func (f faultyFS) CreateTemp(dir, pattern string) (File, error) {
	if f.failOn == "create" {
		return nil, f.errno
	}
	file, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return faultyFile{file, &f}, nil
}

func (f faultyFile) Write(b []byte) (int, error) {
	if f.fs.failOn == "write" {
		n, _ := f.File.Write(b[:len(b)/2]) // a partial write, then the error
		return n, f.fs.errno
	}
	return f.File.Write(b)
}

func (f faultyFile) Sync() error {
	if f.fs.failOn == "sync" {
		return f.fs.errno
	}
	return f.File.Sync()
}

func (f faultyFS) Rename(o, n string) error {
	if f.failOn == "rename" {
		return f.errno
	}
	return os.Rename(o, n)
}

func TestDiskFaultsKeepThePreviousSnapshot(t *testing.T) {
	for _, fault := range []struct {
		op    string
		errno syscall.Errno
	}{{"create", syscall.ENOSPC}, {"write", syscall.ENOSPC}, {"write", syscall.EIO}, {"sync", syscall.EIO}, {"rename", syscall.EIO}} {
		t.Run(fault.op+"/"+fault.errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			good, err := NewDir(dir, OS{})
			require.NoError(t, err)
			m, _, _ := newManager(t, good)
			require.NoError(t, m.Save(ctx, snap(5, "good"), 0))

			bad, err := NewDir(dir, faultyFS{failOn: fault.op, errno: fault.errno})
			require.NoError(t, err)
			mb, _, _ := newManager(t, bad)
			err = mb.Save(ctx, snap(9, "lost"), 0)
			require.ErrorIs(t, err, fault.errno)
			require.Equal(t, 1.0, testutil.ToFloat64(mb.metrics.failures))
			require.Zero(t, testutil.ToFloat64(mb.metrics.lastSuccess))

			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left behind")
			got, ok, err := m.Load(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "good", string(got.State))
		})
	}
}

func TestLeftoverTemporaryFilesAreIgnored(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir, OS{})
	require.NoError(t, err)
	m, _, _ := newManager(t, d)
	require.NoError(t, m.Save(ctx, snap(5, "good"), 0))
	// A crash between write and rename leaves a temporary file.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".tmp-"+name(2, 9)+"-123"), []byte("half"), 0o600))
	got, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(5), got.Seq)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), ".tmp-"), "leftover removed")
	}
}

func TestObjectStore(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	o, err := NewObjects(ctx, js, "HELPDESK_SNAPSHOTS")
	require.NoError(t, err)
	m, _, _ := newManager(t, o)
	_, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.False(t, ok)
	big := strings.Repeat("x", 300_000) // several chunks
	for _, seq := range []uint64{3, 7, 11} {
		require.NoError(t, m.Save(ctx, snap(seq, big+string(rune('a'+seq))), 0))
	}
	names, err := o.List(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{name(2, 7), name(3, 11)}, names)
	// A second handle on the same bucket (a restarted replica) finds it.
	o2, err := NewObjects(ctx, js, "HELPDESK_SNAPSHOTS")
	require.NoError(t, err)
	m2, _, _ := newManager(t, o2)
	got, ok, err := m2.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(11), got.Seq)
	require.Equal(t, big+"l", string(got.State))
}

// TestNewestIsTheOneWrittenLast writes snapshots whose sequences go down,
// as they do when the stream is recreated (3,000 events, then 5,000 in a
// new stream, then 1,000 in another): the one written last is the newest,
// for the manager that wrote it and after a restart, and pruning keeps it.
func TestNewestIsTheOneWrittenLast(t *testing.T) {
	d, err := NewDir(t.TempDir(), OS{})
	require.NoError(t, err)
	m, _, _ := newManager(t, d)
	for _, seq := range []uint64{3000, 5000, 1000} {
		require.NoError(t, m.Save(ctx, snap(seq, fmt.Sprint("after ", seq)), 0))
	}
	got, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(1000), got.Seq)
	require.Equal(t, "after 1000", string(got.State))

	restarted, _, _ := newManager(t, d)
	got, ok, err = restarted.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "after 1000", string(got.State))
	names, err := d.List(ctx)
	require.NoError(t, err)
	require.Len(t, names, 2, "the two written last")

	// The restarted manager's next snapshot is newer still, even with a
	// lower sequence, and the 5,000 one is pruned.
	require.NoError(t, restarted.Save(ctx, snap(200, "after 200"), 0))
	got, ok, err = restarted.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "after 200", string(got.State))
	names, err = d.List(ctx)
	require.NoError(t, err)
	require.Len(t, names, 2)
	for _, n := range names {
		data, err := d.Get(ctx, n)
		require.NoError(t, err)
		s, err := Decode(data)
		require.NoError(t, err)
		require.NotEqual(t, uint64(5000), s.Seq, "pruned")
	}
}

// TestFlippedVersionBitFallsBack flips one bit of the newest snapshot's
// version field: the checksum says it is corrupt, so the one before it is
// restored and the corrupt one counted, instead of stopping the start as
// if a newer aggregator had written it.
func TestFlippedVersionBitFallsBack(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir, OS{})
	require.NoError(t, err)
	m, _, _ := newManager(t, d)
	require.NoError(t, m.Save(ctx, snap(5, "older"), 0))
	require.NoError(t, m.Save(ctx, snap(9, "newer"), 0))
	names, err := m.sorted(ctx)
	require.NoError(t, err)
	path := filepath.Join(dir, names[0].name)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[9] ^= 0x80 // version 2 becomes 32770
	require.NoError(t, os.WriteFile(path, data, 0o600))

	restarted, logs, _ := newManager(t, d)
	got, ok, err := restarted.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(5), got.Seq)
	require.Equal(t, "older", string(got.State))
	require.Equal(t, 1.0, testutil.ToFloat64(restarted.metrics.corrupt))
	require.Contains(t, logs.String(), "checksum mismatch")
}
