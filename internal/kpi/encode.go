package kpi

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/helpdesk-kpi/aggregator/internal/events"
	"github.com/helpdesk-kpi/aggregator/internal/sla"
	"github.com/helpdesk-kpi/aggregator/internal/snapfmt"
)

// AppendBinary appends the whole state to b: everything Restore needs to
// continue exactly where this state is. Derived structures (window totals,
// SLA timers and deadline heaps) are not written; Restore rebuilds them.
func (s *State) AppendBinary(b []byte) []byte { return s.encode(b, nil) }

// encodeChunk is about how much EncodeTo holds before it writes.
const encodeChunk = 1 << 20

// EncodeTo writes what AppendBinary appends to w, in writes of about a
// megabyte, so that a state of hundreds of megabytes is never held twice
// in memory. It stops at the first write error and returns it.
func (s *State) EncodeTo(w io.Writer) error {
	var err error
	flush := func(b []byte) []byte {
		if err == nil && len(b) > 0 {
			_, err = w.Write(b)
		}
		return b[:0]
	}
	flush(s.encode(make([]byte, 0, encodeChunk+64<<10), flush))
	return err
}

// encode appends the state to b; when flush is not nil, it hands b to
// flush whenever it holds a chunk, and goes on with what flush returns.
func (s *State) encode(b []byte, flush func([]byte) []byte) []byte {
	chunk := func(b []byte) []byte {
		if flush != nil && len(b) >= encodeChunk {
			return flush(b)
		}
		return b
	}
	b = append(b, stateFormat)
	b = s.appendConfig(b)
	d := s.dims
	b = appendLabels(b, d.teams)
	b = appendLabels(b, s.agents.names)
	for _, w := range s.wins {
		b = chunk(w.AppendBinary(b))
	}
	b = snapfmt.AppendUvarint(b, uint64(s.tracked))
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil {
			continue
		}
		b = chunk(b)
		b = snapfmt.AppendString(b, s.tickets.id(i))
		b = appendEntries(b, tk.log)
		b = append(b, tk.openBd.ch, tk.openBd.pri, tk.openBd.team)
		b = appendFold(b, &tk.fs)
	}
	b = snapfmt.AppendUvarint(b, uint64(len(s.held)))
	for _, id := range slices.Sorted(maps.Keys(s.held)) {
		b = chunk(b)
		b = snapfmt.AppendString(b, id)
		held := s.held[id]
		b = snapfmt.AppendUvarint(b, uint64(len(held)))
		for _, h := range held {
			b = appendEntry(b, h.e)
			b = snapfmt.AppendU64(b, h.id)
		}
	}
	b = snapfmt.AppendVarint(b, s.heldMin)
	b = snapfmt.AppendUvarint(b, uint64(len(s.ticketless)))
	for _, id := range slices.Sorted(maps.Keys(s.ticketless)) {
		b = chunk(b)
		b = snapfmt.AppendU64(b, id)
		b = snapfmt.AppendVarint(b, s.ticketless[id])
	}
	for _, v := range []int64{s.watermark, s.nextSweep, s.duplicates, s.late, s.orphaned, s.expired, s.lastEvent, s.lastStored, s.sla.ledgerAt} {
		b = snapfmt.AppendVarint(b, v)
	}
	b = appendInts(b, s.evicted[:])
	b = appendInts(b, s.open)
	b = s.led.appendBinary(b)
	b = append(b, flags(s.lastLive, false))
	b = appendInts(b, s.applied[:])
	for _, r := range events.Reasons() {
		b = snapfmt.AppendVarint(b, s.rejected[r])
	}
	b = snapfmt.AppendVarint(b, s.sla.now)
	for k := range sla.NumKinds {
		b = appendInts(b, s.sla.atRisk[k])
		b = appendInts(b, s.sla.breachedOpen[k])
		b = appendInts(b, s.sla.paused[k])
	}
	b = appendInts(b, s.dims.overflow[:])
	return b
}

// stateFormat is written first: the version of the state encoding. 2 added
// the ledger of cumulative series and the expired count; 3 the v2 events,
// SLA policies, pauses and next reply clocks. A snapshot of an earlier
// format (format 1 starts with the number of windows, 1 to 16) is
// refused, and the state is rebuilt from the stream.
const stateFormat = 0xF3

// appendConfig writes what the encoding depends on, so that a state is
// never restored into a differently configured one.
func (s *State) appendConfig(b []byte) []byte {
	b = snapfmt.AppendUvarint(b, uint64(len(s.cfg.Windows)))
	for _, w := range s.cfg.Windows {
		b = snapfmt.AppendString(b, w.Name)
		b = snapfmt.AppendVarint(b, int64(w.Width))
	}
	b = snapfmt.AppendVarint(b, int64(s.cfg.MaxClockSkew))
	b = snapfmt.AppendUvarint(b, uint64(len(s.dims.channels)))
	for _, c := range s.dims.channels {
		b = snapfmt.AppendString(b, c)
	}
	b = snapfmt.AppendUvarint(b, uint64(s.dims.maxTeams))
	b = append(b, flags(s.dims.fixed, false))
	b = snapfmt.AppendUvarint(b, uint64(s.agents.max))
	b = append(b, flags(s.agents.fixed, false))
	b = snapfmt.AppendU64(b, uint64(s.cfg.SLA.WarnFraction*1e9))
	b = snapfmt.AppendUvarint(b, uint64(len(s.cfg.SLA.Policies)))
	for _, p := range s.cfg.SLA.Policies {
		b = snapfmt.AppendString(b, p.Name)
		for k := range sla.NumKinds {
			for _, d := range p.Targets[k] {
				b = snapfmt.AppendVarint(b, int64(d))
			}
			b = append(b, byte(p.PauseOn[k]))
		}
		b = snapfmt.AppendUvarint(b, uint64(len(p.Match.Priorities)))
		for _, pri := range p.Match.Priorities {
			b = append(b, byte(pri))
		}
		for _, list := range [][]string{p.Match.Teams, p.Match.Channels} {
			b = snapfmt.AppendUvarint(b, uint64(len(list)))
			for _, v := range list {
				b = snapfmt.AppendString(b, v)
			}
		}
		b = append(b, flags(p.Hours != nil, false))
	}
	return b
}

// appendFold writes a ticket's fold state.
func appendFold(b []byte, fs *foldState) []byte {
	b = snapfmt.AppendVarint(b, fs.openedAt)
	b = snapfmt.AppendVarint(b, fs.waitStart)
	b = snapfmt.AppendUvarint(b, uint64(fs.replies))
	b = append(b, fs.bd.ch, fs.bd.pri, fs.bd.team, fs.policy, byte(fs.status), flags(fs.replied, fs.open))
	for _, c := range fs.clocks {
		b = snapfmt.AppendVarint(b, c.at)
		b = snapfmt.AppendVarint(b, c.pausedAt)
		b = snapfmt.AppendUvarint(b, uint64(c.pausedSecs))
		b = snapfmt.AppendUvarint(b, uint64(c.lead))
		b = append(b, c.lab.policy, c.lab.pri, c.lab.ch, c.lab.team, byte(c.kind), byte(c.state), flags(c.overdue, false))
	}
	return b
}

// readFold reads what appendFold wrote; it reports whether every index
// is in range.
func (s *State) readFold(r *snapfmt.Reader, fs *foldState) bool {
	d := s.dims
	fs.openedAt = r.Varint()
	fs.waitStart = r.Varint()
	fs.replies = uint16(min(r.Uvarint(), math.MaxUint16))
	var raw [6]byte
	for i := range raw {
		raw[i] = r.Byte()
	}
	fs.bd = breakdown{ch: raw[0], pri: raw[1], team: raw[2]}
	fs.policy, fs.status = raw[3], events.Status(raw[4])
	fs.replied, fs.open = raw[5]&1 != 0, raw[5]&2 != 0
	policyOK := func(p uint8) bool { return p == noPolicy || int(p) < len(s.sla.cfg.Policies) }
	ok := int(fs.bd.ch) < len(d.channels) && fs.bd.pri < events.NumPriorities && int(fs.bd.team) < len(d.teams) &&
		policyOK(fs.policy) && fs.status < events.NumStatuses
	for i := range fs.clocks {
		c := &fs.clocks[i]
		c.at, c.pausedAt = r.Varint(), r.Varint()
		c.pausedSecs, c.lead = uint32(min(r.Uvarint(), math.MaxUint32)), uint32(min(r.Uvarint(), math.MaxUint32))
		var cr [7]byte
		for j := range cr {
			cr[j] = r.Byte()
		}
		c.lab = slaLabels{policy: cr[0], pri: cr[1], ch: cr[2], team: cr[3]}
		c.kind, c.state, c.overdue = sla.Kind(cr[4]), clockState(cr[5]), cr[6]&1 != 0
		live := c.state == clockRunning || c.state == clockPaused
		ok = ok && c.kind < sla.NumKinds && c.state <= clockMet && int(c.lab.ch) < len(d.channels) &&
			c.lab.pri < events.NumPriorities && int(c.lab.team) < len(d.teams) && policyOK(c.lab.policy) &&
			(!live || c.lab.policy != noPolicy)
	}
	return ok
}

func flags(a, b bool) byte {
	var f byte
	if a {
		f |= 1
	}
	if b {
		f |= 2
	}
	return f
}

// appendLabels writes the label values of a list admitted in stream
// order (teams, agents).
func appendLabels(b []byte, names []string) []byte {
	b = snapfmt.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = snapfmt.AppendString(b, n)
	}
	return b
}

// readLabels reads what appendLabels wrote into names and ix: the values
// configured must come first, in their order, and at most 2+limit in all
// (unknown and other included); what is the label, for errors.
func readLabels(r *snapfmt.Reader, what string, names *[]string, ix map[string]uint8, limit int) error {
	n := r.Count(1)
	if n > 2+limit {
		return fmt.Errorf("snapshot holds %d %ss, more than the %d allowed", n, what, limit)
	}
	for i := range n {
		v := r.String()
		if i < len(*names) {
			if (*names)[i] != v {
				return fmt.Errorf("snapshot %s %d is %q, configured %q", what, i, v, (*names)[i])
			}
			continue
		}
		ix[v] = uint8(len(*names))
		*names = append(*names, v)
	}
	return nil
}

func appendEntries(b []byte, log []entry) []byte {
	b = snapfmt.AppendUvarint(b, uint64(len(log)))
	for _, e := range log {
		b = appendEntry(b, e)
	}
	return b
}

func appendEntry(b []byte, e entry) []byte {
	b = snapfmt.AppendVarint(b, e.at)
	return snapfmt.AppendU64(b, e.w)
}

func appendInts(b []byte, v []int64) []byte {
	for _, x := range v {
		b = snapfmt.AppendVarint(b, x)
	}
	return b
}

// Restore returns a state that continues exactly where the encoded one
// stopped, for the same configuration. A snapshot of a differently
// configured state is refused.
func Restore(cfg Config, data []byte) (*State, error) {
	s, err := New(cfg, 0)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 || data[0] != stateFormat {
		return nil, fmt.Errorf("the snapshot holds the state in another format than this version of the aggregator writes (format %d); rebuilding from the stream", stateFormat)
	}
	data = data[1:]
	want := s.appendConfig(nil)
	if got := data[:min(len(want), len(data))]; string(got) != string(want) {
		return nil, fmt.Errorf("the snapshot was taken with other windows, channels, team or agent limits or SLA policies than configured now")
	}
	r := snapfmt.NewReader(data[len(want):])
	d := s.dims
	if err := readLabels(r, "team", &d.teams, d.teamIx, d.maxTeams); err != nil {
		return nil, err
	}
	if err := readLabels(r, "agent", &s.agents.names, s.agents.ix, s.agents.max); err != nil {
		return nil, err
	}
	for _, w := range s.wins {
		w.Restore(r)
	}
	tracked := r.Count(20)
	for range tracked {
		id := r.Bytes()
		log := readEntries(r)
		if r.Err() != nil {
			break
		}
		if len(log) == 0 {
			r.Fail("ticket %q without events", id)
			break
		}
		tix := s.tickets.add()
		tk := s.tickets.at(tix)
		s.tickets.setID(tix, id)
		tk.log = append(s.logs.alloc(len(log)), log...)
		tk.openBd = breakdown{ch: r.Byte(), pri: r.Byte(), team: r.Byte()}
		if int(tk.openBd.ch) >= len(d.channels) || tk.openBd.pri >= events.NumPriorities || int(tk.openBd.team) >= len(d.teams) {
			r.Fail("ticket %q: opening labels out of range", id)
			break
		}
		if !s.readFold(r, &tk.fs) {
			r.Fail("ticket %q: fold state out of range", id)
			break
		}
		if _, dup := s.index.lookup(&s.tickets, id); dup {
			r.Fail("ticket %q twice", id)
			break
		}
		s.index.insert(&s.tickets, tix)
		s.tracked++
	}
	for range r.Count(2) {
		id := r.String()
		held := make([]heldEntry, r.Count(17))
		for i := range held {
			held[i] = heldEntry{readEntry(r), r.U64()}
		}
		s.held[id] = held
		s.heldCount += heldEvents(held)
	}
	s.heldMin = r.Varint()
	for range r.Count(9) {
		id := r.U64()
		s.ticketless[id] = r.Varint()
	}
	for _, v := range []*int64{&s.watermark, &s.nextSweep, &s.duplicates, &s.late, &s.orphaned, &s.expired, &s.lastEvent, &s.lastStored, &s.sla.ledgerAt} {
		*v = r.Varint()
	}
	readInts(r, s.evicted[:])
	readInts(r, s.open)
	s.led.readBinary(r)
	s.lastLive = r.Byte() != 0
	readInts(r, s.applied[:])
	for _, reason := range events.Reasons() {
		if n := r.Varint(); n != 0 {
			s.rejected[reason] = n
		}
	}
	s.sla.now = r.Varint()
	for k := range sla.NumKinds {
		readInts(r, s.sla.atRisk[k])
		readInts(r, s.sla.breachedOpen[k])
		readInts(r, s.sla.paused[k])
	}
	readInts(r, d.overflow[:])
	if err := r.Err(); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left over after the state", r.Len())
	}
	s.rebuildSLA()
	return s, nil
}

// rebuildSLA recreates the timers from the tickets' clocks.
func (s *State) rebuildSLA() {
	for i := range s.tickets.len() {
		if s.tickets.at(i).log != nil {
			s.rearm(i, never)
		}
	}
}

func readEntries(r *snapfmt.Reader) []entry {
	n := r.Count(9)
	log := make([]entry, n)
	for i := range log {
		log[i] = readEntry(r)
	}
	return log
}

func readEntry(r *snapfmt.Reader) entry { return entry{at: r.Varint(), w: r.U64()} }

func readInts(r *snapfmt.Reader, v []int64) {
	for i := range v {
		v[i] = r.Varint()
	}
}
