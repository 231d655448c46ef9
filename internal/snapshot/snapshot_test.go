package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
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
	return Snapshot{Seq: seq, TakenAt: time.Unix(1_700_000_000+int64(seq), 0), State: []byte(state)}
}

func newManager(t *testing.T, store Store) (*Manager, *bytes.Buffer, *prometheus.Registry) {
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
	require.ElementsMatch(t, []string{name(30), name(40)}, names)
	got, ok, err := m.Load(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(40), got.Seq)
	require.Equal(t, "state-4", string(got.State))
	require.Equal(t, time.Unix(1_700_000_040, 0), got.TakenAt)
	require.Equal(t, float64(1_700_000_040), testutil.ToFloat64(m.metrics.lastSuccess))
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
			path := filepath.Join(dir, name(9))
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
		for _, seq := range []uint64{5, 9} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name(seq)), []byte("garbage"), 0o600))
		}
		_, ok, err := m.Load(ctx)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestNewerVersionIsRefused(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir, OS{})
	require.NoError(t, err)
	m, _, _ := newManager(t, d)
	require.NoError(t, m.Save(ctx, snap(5, "older"), 0))
	data := Encode(snap(9, "from the future"))
	binary.LittleEndian.PutUint16(data[8:], Version+1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name(9)), data, 0o600))
	_, _, err = m.Load(ctx)
	require.ErrorIs(t, err, ErrNewerVersion)
	require.ErrorContains(t, err, "upgrade the aggregator")
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
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".tmp-"+name(9)+"-123"), []byte("half"), 0o600))
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
	require.ElementsMatch(t, []string{name(7), name(11)}, names)
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
