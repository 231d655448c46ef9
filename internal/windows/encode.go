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
			step := r.Uvarint()
			j += int(min(step, uint64(len(p.counters))))
			switch {
			case j >= len(p.counters):
				r.Fail("window %v: counter %d out of range", w.Width(), j)
				return
			case k > 0 && step == 0:
				r.Fail("window %v: counter %d written twice", w.Width(), j)
				return
			}
			p.touch(j)
			if p.counters[j] = r.Varint(); p.counters[j] == 0 && r.Err() == nil {
				r.Fail("window %v: counter %d written as 0, which is never written", w.Width(), j)
				return
			}
		}
		n := r.Count(4)
		for range n {
			s := sample(r.U32())
			if s.bin() >= w.bins.Len() {
				r.Fail("window %v: histogram bin %d out of range", w.Width(), s.bin())
				return
			}
			w.scratch = w.expand(s.group(), w.scratch[:0])
			for _, h := range w.scratch {
				if h < 0 || h >= len(w.histN) {
					r.Fail("window %v: sample of group %d out of range", w.Width(), s.group())
					return
				}
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
