package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FS is the file system a Dir writes through. OS is the real one; tests
// put one in between that fails on purpose.
type FS interface {
	CreateTemp(dir, pattern string) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	ReadFile(name string) ([]byte, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(path string, perm fs.FileMode) error
	// SyncDir makes the directory's entries (a rename) durable.
	SyncDir(path string) error
}

// File is a file being written.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// OS is the operating system's file system.
type OS struct{}

// CreateTemp is os.CreateTemp.
func (OS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename is os.Rename.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove is os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// ReadFile is os.ReadFile.
func (OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// ReadDir is os.ReadDir.
func (OS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll is os.MkdirAll.
func (OS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// SyncDir fsyncs the directory at path, so that names created, renamed or
// removed in it are durable.
func (OS) SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dir stores snapshots as files in a directory.
type Dir struct {
	path string
	fs   FS
}

// NewDir returns a store in directory path, creating it if needed.
func NewDir(path string, fsys FS) (*Dir, error) {
	if err := fsys.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("snapshot directory: %w", err)
	}
	return &Dir{path: path, fs: fsys}, nil
}

func (d *Dir) String() string { return "dir " + d.path }

// Put writes data to a temporary file, syncs it, renames it into place and
// syncs the directory, so that name holds either nothing or all of data.
func (d *Dir) Put(ctx context.Context, name string, data []byte) error {
	return d.PutFrom(ctx, name, bytes.NewReader(data))
}

// PutFrom writes what r yields to a temporary file, syncs it, renames it
// to name and syncs the directory; an error from r leaves nothing behind.
func (d *Dir) PutFrom(_ context.Context, name string, r io.Reader) error {
	f, err := d.fs.CreateTemp(d.path, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.fs.Rename(tmp, filepath.Join(d.path, name))
	}
	if err != nil {
		_ = d.fs.Remove(tmp)
		return err
	}
	return d.fs.SyncDir(d.path)
}

// Get reads name.
func (d *Dir) Get(_ context.Context, name string) ([]byte, error) {
	return d.fs.ReadFile(filepath.Join(d.path, name))
}

// List returns the stored names; leftover temporary files of an
// interrupted Put are removed on the way.
func (d *Dir) List(context.Context) ([]string, error) {
	entries, err := d.fs.ReadDir(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = d.fs.Remove(filepath.Join(d.path, e.Name()))
			continue
		}
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Delete removes name.
func (d *Dir) Delete(_ context.Context, name string) error {
	return d.fs.Remove(filepath.Join(d.path, name))
}
