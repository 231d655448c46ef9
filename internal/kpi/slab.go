package kpi

// slab stores tickets in fixed pages, so that growing it never copies the
// tickets already stored (a 1,000,000-ticket slice would copy over 100 MB
// each time it grew) and a slot's address never changes.
type slab struct {
	pages [][]ticket
	n     int32            // slots handed out
	long  map[int32]string // ids longer than maxInlineID, by slot
}

const (
	pageBits = 12
	pageSize = 1 << pageBits
)

// at returns slot i.
func (s *slab) at(i int32) *ticket { return &s.pages[i>>pageBits][i&(pageSize-1)] }

// add hands out a new, zeroed slot.
func (s *slab) add() int32 {
	if int(s.n)>>pageBits == len(s.pages) {
		s.pages = append(s.pages, make([]ticket, pageSize))
	}
	s.n++
	return s.n - 1
}

// len returns the number of slots handed out.
func (s *slab) len() int32 { return s.n }
