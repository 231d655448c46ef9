package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// The Go runtime's soft memory limit (runtime/debug.SetMemoryLimit) makes
// the garbage collector work harder as the heap nears it, instead of
// letting the heap grow to twice what is live. In a container with a memory
// limit that is the difference between running and being OOM-killed after
// a burst (a snapshot, a catch-up).

// memoryLimitHeadroom is the share of a container's memory limit given to
// the Go heap when -memory-limit is auto: the rest is for the embedded
// NATS server's buffers, stacks and what the runtime does not count.
const memoryLimitHeadroom = 0.9

// memoryLimit says which soft memory limit to set for setting, the value of
// -memory-limit: "auto", "off", or a size like 1500MiB or 2GiB. It returns
// the limit in bytes (0: set none) and where it comes from, for the log.
// With "auto" the runtime's own GOMEMLIMIT wins when set; otherwise the
// limit is memoryLimitHeadroom of the container's (cgroup v2 or v1), if
// there is one. readFile reads the cgroup files; getenv the environment.
func memoryLimit(setting string, getenv func(string) string, readFile func(string) ([]byte, error)) (int64, string, error) {
	switch setting {
	case "off":
		return 0, "off", nil
	case "auto", "":
		if v := getenv("GOMEMLIMIT"); v != "" {
			return 0, "GOMEMLIMIT=" + v + " (applied by the Go runtime)", nil
		}
		for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
			data, err := readFile(f)
			if err != nil {
				continue
			}
			s := strings.TrimSpace(string(data))
			n, err := strconv.ParseInt(s, 10, 64)
			if s == "max" || err != nil || n <= 0 || n >= math.MaxInt64/2 {
				continue // no limit (v1 reports a huge number)
			}
			return int64(float64(n) * memoryLimitHeadroom), fmt.Sprintf("90%% of the container's limit (%s: %d bytes)", f, n), nil
		}
		return 0, "none: no GOMEMLIMIT and no container memory limit", nil
	}
	n, err := parseBytes(setting)
	if err != nil {
		return 0, "", fmt.Errorf("-memory-limit %q: %w (want auto, off, or a size like 1500MiB or 2GiB)", setting, err)
	}
	return n, "-memory-limit", nil
}

// parseBytes reads a size: a whole number of bytes with an optional unit,
// KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	factor := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSuffix(s, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive whole number of bytes")
	}
	if n > math.MaxInt64/factor {
		return 0, fmt.Errorf("too large")
	}
	return n * factor, nil
}

// osReadFile is os.ReadFile, the cgroup reader of the real program.
func osReadFile(name string) ([]byte, error) { return os.ReadFile(name) }
