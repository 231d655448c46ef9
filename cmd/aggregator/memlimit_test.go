package main

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name, setting string
		env           string
		files         map[string]string
		want          int64
		wantErr       string
	}{
		{name: "explicit GiB", setting: "2GiB", want: 2 << 30},
		{name: "explicit MB", setting: "1500MB", want: 1_500_000_000},
		{name: "plain bytes", setting: "1048576", want: 1 << 20},
		{name: "off", setting: "off", files: map[string]string{"/sys/fs/cgroup/memory.max": "1000000000\n"}, want: 0},
		// 90% of 1,000,000,000 bytes.
		{name: "auto, cgroup v2 limit", setting: "auto", files: map[string]string{"/sys/fs/cgroup/memory.max": "1000000000\n"}, want: 900_000_000},
		{name: "auto, cgroup v2 without limit", setting: "auto", files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, want: 0},
		{name: "auto, cgroup v1 limit", setting: "auto", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648"}, want: 1932735283},
		{name: "auto, cgroup v1 without limit", setting: "auto", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, want: 0},
		{name: "auto, GOMEMLIMIT wins", setting: "auto", env: "700MiB", files: map[string]string{"/sys/fs/cgroup/memory.max": "1000000000"}, want: 0},
		{name: "auto, nothing", setting: "auto", want: 0},
		{name: "bad unit", setting: "2 gigs", wantErr: `-memory-limit "2 gigs": not a positive whole number of bytes (want auto, off, or a size like 1500MiB or 2GiB)`},
		{name: "zero", setting: "0", wantErr: `-memory-limit "0": not a positive whole number of bytes (want auto, off, or a size like 1500MiB or 2GiB)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := noEnv
			if tc.env != "" {
				getenv = func(k string) string {
					if k == "GOMEMLIMIT" {
						return tc.env
					}
					return ""
				}
			}
			got, source, err := memoryLimit(tc.setting, getenv, files(tc.files))
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NotEmpty(t, source)
		})
	}
	_, _, err := memoryLimit("auto", noEnv, func(string) ([]byte, error) { return nil, errors.New("permission denied") })
	require.NoError(t, err, "an unreadable cgroup file means no limit, not a failure")
}
