package httpapi

import (
	"container/list"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimits holds one token bucket per client of the JSON API, so
// that a client spending its budget does not spend anyone else's.
//
// It tracks at most max clients. A client idle for as long as its bucket
// takes to refill is dropped, since a fresh bucket is the same as a full
// one; when max clients are busy, the least recently seen is dropped to
// make room (it starts again with a full budget, which the global ceiling
// of the API still bounds).
type clientLimits struct {
	limit rate.Limit
	burst int
	max   int
	idle  time.Duration // time to refill a bucket from empty

	mu      sync.Mutex
	clients map[netip.Prefix]*list.Element // of *client
	recent  list.List                      // of *client, most recently seen first
}

type client struct {
	key  netip.Prefix
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimits(limit rate.Limit, burst, maxClients int) *clientLimits {
	return &clientLimits{
		limit:   limit,
		burst:   burst,
		max:     maxClients,
		idle:    time.Duration(float64(burst) / float64(limit) * float64(time.Second)),
		clients: make(map[netip.Prefix]*list.Element),
	}
}

// allow takes a token from key's bucket at now. When there is none, it
// returns false and how long until there is one.
func (c *clientLimits) allow(key netip.Prefix, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.recent.Back(); e != nil && now.Sub(e.Value.(*client).seen) >= c.idle; e = c.recent.Back() {
		c.remove(e)
	}
	e, ok := c.clients[key]
	if !ok {
		if len(c.clients) >= c.max {
			c.remove(c.recent.Back())
		}
		e = c.recent.PushFront(&client{key: key, lim: rate.NewLimiter(c.limit, c.burst)})
		c.clients[key] = e
	}
	c.recent.MoveToFront(e)
	cl := e.Value.(*client)
	cl.seen = now
	if cl.lim.AllowN(now, 1) {
		return true, 0
	}
	wait := (1 - cl.lim.TokensAt(now)) / float64(c.limit)
	return false, time.Duration(math.Ceil(wait * float64(time.Second)))
}

func (c *clientLimits) remove(e *list.Element) {
	delete(c.clients, e.Value.(*client).key)
	c.recent.Remove(e)
}

// tracked returns how many clients have a bucket.
func (c *clientLimits) tracked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.clients)
}

// clientKey names the client of r by its address: an IPv4 address, or the
// /64 network of an IPv6 address (one host usually has a whole /64). The
// peer address is the only one used: X-Forwarded-For and similar headers
// are the client's to forge, so behind a proxy every client shares the
// proxy's budget. An address that does not parse (a Unix socket) is the
// zero prefix, shared.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits) // bits fits the address family: no error
	return p
}
