package windows

import "github.com/helpdesk-kpi/aggregator/internal/snapfmt"

// AppendBinary appends the window's panes to b, enough for Restore to
// rebuild it exactly. Running totals are not written: they are the sum of
// the panes that cover now.
func (w *Window) AppendBinary(b []byte) []byte {
	b = snapfmt.AppendVarint(b, w.head)
	used := 0
	for i := range w.ring {
		if w.ring[i].index != noPane {
			used++
		}
	}
	b = snapfmt.AppendUvarint(b, uint64(used))
	for i := range w.ring {
		p := &w.ring[i]
		if p.index == noPane {
			continue
		}
		b = snapfmt.AppendVarint(b, p.index)
		nonzero := 0
		for _, c := range p.counters {
			if c != 0 {
				nonzero++
			}
		}
		b = snapfmt.AppendUvarint(b, uint64(nonzero))
		last := 0
		for j, c := range p.counters {
			if c != 0 {
				b = snapfmt.AppendUvarint(b, uint64(j-last))
				b = snapfmt.AppendVarint(b, c)
				last = j
			}
		}
		b = snapfmt.AppendUvarint(b, uint64(len(p.samples)))
		for _, s := range p.samples {
			b = snapfmt.AppendU32(b, uint32(s))
		}
	}
	return b
}

// Restore replaces the window's contents with what AppendBinary wrote. The
// window must have been made by New with the same spec and layout.
func (w *Window) Restore(r *snapfmt.Reader) {
	w.reset(r.Varint())
	used := r.Count(2)
	for range used {
		idx := r.Varint()
		if idx <= w.head-w.n || idx > w.head-w.n+int64(len(w.ring)) {
			r.Fail("window %v: pane %d outside the window ending at pane %d", w.Width(), idx, w.head)
			return
		}
		p := &w.ring[mod(idx, int64(len(w.ring)))]
		p.index = idx
		j := 0
		for k := range r.Count(2) {
			j += int(r.Uvarint())
			if j >= len(p.counters) || (k > 0 && j == 0) {
				r.Fail("window %v: counter %d out of range", w.Width(), j)
				return
			}
			p.counters[j] = r.Varint()
		}
		n := r.Count(4)
		for range n {
			s := sample(r.U32())
			if s.bin() >= w.bins.Len() {
				r.Fail("window %v: histogram bin %d out of range", w.Width(), s.bin())
				return
			}
			p.samples = append(p.samples, s)
		}
		if r.Err() != nil {
			return
		}
		if idx <= w.head {
			w.merge(p, 1)
		}
	}
}
