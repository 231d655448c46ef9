package httpapi

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:40000":                   "192.0.2.1/32",
		"[::ffff:192.0.2.1]:40000":          "192.0.2.1/32",
		"[2001:db8:1:2:3:4:5:6]:40000":      "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:40000": "2001:db8:1:2::/64",
		"192.0.2.1":                         "192.0.2.1/32",
		"@":                                 "invalid Prefix",
	} {
		require.Equal(t, want, clientKey(addr).String(), addr)
	}
}

// TestClientLimitsBounded sends three times as many distinct addresses as
// are tracked, all within a bucket's refill time: the map never grows past
// its bound, and a client seen recently keeps its spent budget.
func TestClientLimitsBounded(t *testing.T) {
	const tracked = 10_000
	c := newClientLimits(20, 40, tracked)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	spender := netip.MustParsePrefix("198.51.100.7/32")
	for range 40 {
		ok, _ := c.allow(spender, now)
		require.True(t, ok)
	}
	ok, wait := c.allow(spender, now)
	require.False(t, ok)
	require.Equal(t, 50*time.Millisecond, wait, "one token at 20/s")

	for i := range 3 * tracked {
		var key netip.Prefix
		if i%2 == 0 {
			key = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		} else {
			key = clientKey(fmt.Sprintf("[2001:db8:%x::1]:1", i))
		}
		ok, _ := c.allow(key, now)
		require.True(t, ok, "a new client has its burst")
		require.LessOrEqual(t, c.tracked(), tracked)
		if i%(tracked/2) == 0 {
			// The spender comes back often enough to stay tracked.
			ok, _ := c.allow(spender, now)
			require.False(t, ok, "the spender's budget stays spent")
		}
	}
	require.Equal(t, tracked, c.tracked())

	// A bucket that had time to refill is the same as a new one: past
	// that time, every idle client is dropped.
	now = now.Add(2 * time.Second)
	ok, _ = c.allow(spender, now)
	require.True(t, ok)
	require.Equal(t, 1, c.tracked())
}
