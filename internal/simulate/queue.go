package simulate

import "github.com/helpdesk-kpi/aggregator/internal/events"

// kind is what a schedule entry does when its time comes.
type kind uint8

const (
	kindArrival          kind = iota // open a new ticket and schedule the next arrival
	kindTicketlessSurvey             // answer a survey without ticket and schedule the next
	kindFirstReply
	kindResolve
	kindReopen
	kindSurvey

	// v2 steps of a ticket.
	kindReply           // ticket.replied: the first reply or one that ends a wait
	kindCustomerMessage // ticket.customer_message after the first reply
	kindStatus          // ticket.status_changed to entry.to
	kindUpdate          // ticket.updated: the escalation or transfer of entry.flags

	// v2 events beside a ticket's steps, which carry no ticket state.
	kindFirstReplyTwin // ticket.first_reply sent with the first ticket.replied
	kindEarlyMessage   // ticket.customer_message before the first reply
)

// status is a v2 ticket status.
type status uint8

const (
	statusOpen status = iota
	statusPending
	statusOnHold
)

func (s status) String() string {
	switch s {
	case statusPending:
		return "pending"
	case statusOnHold:
		return "on_hold"
	}
	return "open"
}

// Flags of a v2 ticket, in entry.flags.
const (
	flagEscalate  uint8 = 1 << iota // an update will raise the priority
	flagTransfer                    // an update will move the ticket to another team
	flagThanks                      // the last customer message is resolved without reply
	flagResolving                   // the status change under way precedes the resolution
)

// entry is a scheduled step: the next event of a ticket, with the ticket's
// state, or the next arrival. It holds no pointers, so a large schedule costs
// the garbage collector nothing.
type entry struct {
	at       int64  // event time, Unix milliseconds
	seq      uint64 // order of scheduling; breaks ties of at, for determinism
	ticket   uint64 // ticket number, 0 for none
	handle   int64  // agent time spent on the ticket so far, ms
	agent    uint32 // agent number, 0 for none
	replies  int32  // agent replies so far
	channel  uint16 // index into Generator.channels
	team     uint16 // index into Generator.teams
	kind     kind
	prio     events.Priority
	survey   events.SurveyKind
	answered bool // had its first reply
	reopened bool
	msgs     uint8  // v2: customer messages still to come in this conversation
	status   status // v2: the ticket's status
	to       status // v2: the status a kindStatus entry sets
	flags    uint8  // v2: flag… bits
}

func (e *entry) before(o *entry) bool {
	return e.at < o.at || e.at == o.at && e.seq < o.seq
}

// schedule is a binary min-heap of entries ordered by (at, seq). It is
// written out rather than built on container/heap to avoid boxing every
// entry in an interface.
type schedule []entry

func (s *schedule) push(e entry) {
	h := append(*s, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
	*s = h
}

// pop removes and returns the earliest entry. The schedule must not be empty.
func (s *schedule) pop() entry {
	h := *s
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].before(&h[c]) {
			c = r
		}
		if !h[c].before(&last) {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = last
	}
	*s = h
	return top
}

// queued is a produced message waiting in the outQueue.
type queued struct {
	msg     Message
	dup     bool   // a repeat of an earlier message
	delayed bool   // moved behind some of its successors already
	orig    uint64 // of a repeat: the position of its original
}

// outQueue is a FIFO ring of messages with insertion in the middle, which
// is where the disorder and the repeats are made.
type outQueue struct {
	buf      []queued // len is a power of two
	head     int
	n        int
	distinct int // queued messages that are not repeats
}

func (q *outQueue) at(i int) *queued {
	return &q.buf[(q.head+i)&(len(q.buf)-1)]
}

func (q *outQueue) pushBack(m queued) {
	q.insert(q.n, m)
}

func (q *outQueue) popFront() queued {
	p := q.at(0)
	m := *p
	*p = queued{} // drop the reference to Data
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if !m.dup {
		q.distinct--
	}
	return m
}

// insert puts m at index i, 0 <= i <= q.n, behind i queued messages.
func (q *outQueue) insert(i int, m queued) {
	if q.n == len(q.buf) {
		q.grow()
	}
	for j := q.n; j > i; j-- {
		*q.at(j) = *q.at(j - 1)
	}
	*q.at(i) = m
	q.n++
	if !m.dup {
		q.distinct++
	}
}

func (q *outQueue) grow() {
	buf := make([]queued, max(16, 2*len(q.buf)))
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// delayPosition returns the index behind the first d distinct messages,
// but before the first delayed one: moving a message past an earlier
// delayed one would put that one back in order. 0 means there is no room
// to pass even one distinct message. The queue must hold at least d
// distinct messages.
func (q *outQueue) delayPosition(d int) int {
	passed := 0
	for i := range q.n {
		m := q.at(i)
		if m.delayed {
			if passed == 0 {
				return 0
			}
			return i
		}
		if !m.dup {
			passed++
			if passed == d {
				return i + 1
			}
		}
	}
	panic("BUG: simulate: fewer distinct messages queued than the disorder distance")
}
