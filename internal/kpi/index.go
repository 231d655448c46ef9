package kpi

// index finds a tracked ticket's slab slot by its id. It is an
// open-addressing hash table with linear probing: each 8-byte slot holds
// the low 32 bits of the id's hash (which also choose its home slot) and
// the slab index plus one (0 marks an empty slot). At most three quarters
// full, it costs 11–21 bytes per ticket, about half of a Go map, and a
// lookup rarely touches a ticket whose id does not match.
type index struct {
	slots []uint64
	n     int
}

func (x *index) home(h uint32) int { return int(h) & (len(x.slots) - 1) }

// find returns the slot holding a ticket with the given id and hash, or
// the empty slot where it would go, and whether it was found.
func (x *index) find(tickets *slab, id []byte, h uint32) (int, bool) {
	mask := len(x.slots) - 1
	for i := x.home(h); ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return i, false
		}
		if uint32(v>>32) == h && tickets.hasID(int32(uint32(v))-1, id) {
			return i, true
		}
	}
}

// findSlot returns the slot holding slab index tix, whose id hash is h.
func (x *index) findSlot(tix int32, h uint32) (int, bool) {
	mask := len(x.slots) - 1
	for i := x.home(h); x.slots[i] != 0; i = (i + 1) & mask {
		if int32(uint32(x.slots[i]))-1 == tix {
			return i, true
		}
	}
	return 0, false
}

func (x *index) lookup(tickets *slab, id []byte) (int32, bool) {
	if x.n == 0 {
		return -1, false
	}
	i, ok := x.find(tickets, id, uint32(hashID(id)))
	if !ok {
		return -1, false
	}
	return int32(uint32(x.slots[i])) - 1, true
}

// insert adds ticket tix, whose id is not in the index.
func (x *index) insert(tickets *slab, tix int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow(tickets)
	}
	h := uint32(tickets.idHash(tix))
	mask := len(x.slots) - 1
	i := x.home(h)
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = uint64(h)<<32 | uint64(tix+1)
	x.n++
}

// remove deletes ticket tix, shifting later entries of its probe run back
// so that no tombstones are needed.
func (x *index) remove(tickets *slab, tix int32) {
	i, ok := x.findSlot(tix, uint32(tickets.idHash(tix)))
	if !ok {
		panic("BUG: removing ticket " + tickets.id(tix) + " that is not indexed")
	}
	mask := len(x.slots) - 1
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		// Move j back into the hole at i unless its home lies
		// cyclically in (i, j].
		if home := x.home(uint32(x.slots[j] >> 32)); (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = 0
	x.n--
}

func (x *index) grow(tickets *slab) {
	old := x.slots
	x.slots = make([]uint64, max(1024, 2*len(old)))
	x.n = 0
	for _, v := range old {
		if v != 0 {
			x.insert(tickets, int32(uint32(v))-1)
		}
	}
}
