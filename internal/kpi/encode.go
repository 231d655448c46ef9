package kpi

import (
	"fmt"
	"io"
	"maps"
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
	b = snapfmt.AppendUvarint(b, uint64(len(d.teams)))
	for _, t := range d.teams {
		b = snapfmt.AppendString(b, t)
	}
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
		b = snapfmt.AppendString(b, tk.id())
		b = appendEntries(b, tk.log)
		fs := &tk.fs
		b = snapfmt.AppendVarint(b, fs.openedAt)
		for _, v := range []byte{fs.bd.ch, fs.bd.pri, fs.bd.team, flags(fs.replied, fs.open)} {
			b = snapfmt.AppendUvarint(b, uint64(v))
		}
		for _, c := range fs.clocks {
			b = snapfmt.AppendVarint(b, c.deadline)
			b = snapfmt.AppendUvarint(b, uint64(c.lead))
			b = snapfmt.AppendUvarint(b, uint64(flags(c.active, c.met)))
		}
	}
	b = snapfmt.AppendUvarint(b, uint64(len(s.held)))
	for _, id := range slices.Sorted(maps.Keys(s.held)) {
		b = chunk(b)
		b = snapfmt.AppendString(b, id)
		b = appendEntries(b, s.held[id])
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
		b = appendInts(b, s.sla.atRisk[k][:])
		b = appendInts(b, s.sla.breachedOpen[k][:])
	}
	b = appendInts(b, s.dims.overflow[:])
	return b
}

// stateFormat is written first: the version of the state encoding. 2 added
// the ledger of cumulative series and the expired count; a snapshot of
// format 1 (which starts with the number of windows, 1 to 16) is refused,
// and the state is rebuilt from the stream. The label overflow counts
// were appended at the end within format 2: a state without them restores
// with them at zero.
const stateFormat = 0xF2

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
	for k := range sla.NumKinds {
		for _, d := range s.cfg.SLA.Targets[k] {
			b = snapfmt.AppendVarint(b, int64(d))
		}
	}
	b = snapfmt.AppendU64(b, uint64(s.cfg.SLA.WarnFraction*1e9))
	return b
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

func appendEntries(b []byte, log []entry) []byte {
	b = snapfmt.AppendUvarint(b, uint64(len(log)))
	for _, e := range log {
		b = snapfmt.AppendVarint(b, e.at)
		b = snapfmt.AppendU64(b, e.id)
		b = snapfmt.AppendUvarint(b, e.data)
	}
	return b
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
		return nil, fmt.Errorf("the snapshot was taken with other windows, channels, team limits or SLA targets than configured now")
	}
	r := snapfmt.NewReader(data[len(want):])
	d := s.dims
	teams := r.Count(1)
	if teams > 2+d.maxTeams {
		return nil, fmt.Errorf("snapshot holds %d teams, more than the %d allowed", teams, d.maxTeams)
	}
	for i := range teams {
		t := r.String()
		if i < len(d.teams) {
			if d.teams[i] != t {
				return nil, fmt.Errorf("snapshot team %d is %q, configured %q", i, t, d.teams[i])
			}
			continue
		}
		d.teamIx[t] = uint8(len(d.teams))
		d.teams = append(d.teams, t)
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
		tk.setID(id)
		tk.log = append(tk.inline[:0], log...)
		fs := &tk.fs
		fs.openedAt = r.Varint()
		var raw [4]byte
		for i := range raw {
			raw[i] = byte(r.Uvarint())
		}
		fs.bd = breakdown{ch: raw[0], pri: raw[1], team: raw[2]}
		fs.replied, fs.open = raw[3]&1 != 0, raw[3]&2 != 0
		if int(fs.bd.ch) >= len(d.channels) || fs.bd.pri >= events.NumPriorities || int(fs.bd.team) >= len(d.teams) {
			r.Fail("ticket %q: breakdown out of range", id)
			break
		}
		for k := range fs.clocks {
			c := &fs.clocks[k]
			c.deadline = r.Varint()
			c.lead = uint32(r.Uvarint())
			f := byte(r.Uvarint())
			c.active, c.met = f&1 != 0, f&2 != 0
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
		s.held[id] = readEntries(r)
		s.heldCount += len(s.held[id])
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
		readInts(r, s.sla.atRisk[k][:])
		readInts(r, s.sla.breachedOpen[k][:])
	}
	if r.Len() != 0 {
		// A state written before the label overflow counts ends
		// before them: they start from zero.
		readInts(r, d.overflow[:])
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left over after the state", r.Len())
	}
	s.rebuildSLA()
	return s, nil
}

// rebuildSLA recreates the timers and deadline heaps from the tickets'
// clocks.
func (s *State) rebuildSLA() {
	for i := range s.tickets.len() {
		tk := s.tickets.at(i)
		if tk.log == nil {
			continue
		}
		for k := range sla.NumKinds {
			if c := &tk.fs.clocks[k]; c.active && !c.met {
				pushHeap(&s.sla.deadlines[k][tk.fs.bd.pri], deadline{c.deadline, i}, func(a, b deadline) bool { return a.at < b.at })
			}
		}
		s.rearm(i, never)
	}
}

func readEntries(r *snapfmt.Reader) []entry {
	n := r.Count(10)
	log := make([]entry, n)
	for i := range log {
		log[i] = entry{at: r.Varint(), id: r.U64(), data: r.Uvarint()}
	}
	return log
}

func readInts(r *snapfmt.Reader, v []int64) {
	for i := range v {
		v[i] = r.Varint()
	}
}
