package kpi

// logArena hands out the tickets' event logs: chunks of entries cut from
// large pages, by size class, and reused through a free list per class
// when a log grows or its ticket is forgotten. So a log costs what its
// events need (a class fits its length within 2 entries up to 16, within
// a quarter beyond), growing it allocates nothing in the steady state, and
// the pages hold no pointers for the garbage collector to scan.
type logArena struct {
	pages [][]entry
	used  int // entries handed out of the last page
	free  [numLogClasses][][]entry
}

// logClasses returns the chunk capacities.
func logClasses() [numLogClasses]int {
	return [...]int{2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128}
}

const (
	numLogClasses = 17
	logPage       = 1 << 16 // entries per page (1 MiB)
)

// logClass returns the smallest class of capacity at least n, or -1 when
// n is beyond the largest: such logs are plain slices.
func logClass(n int) int {
	for i, c := range logClasses() {
		if n <= c {
			return i
		}
	}
	return -1
}

// alloc returns an empty log with room for n entries.
func (a *logArena) alloc(n int) []entry {
	k := logClass(n)
	if k < 0 {
		return make([]entry, 0, n+n/4)
	}
	if f := a.free[k]; len(f) > 0 {
		log := f[len(f)-1]
		a.free[k] = f[:len(f)-1]
		return log[:0]
	}
	c := logClasses()[k]
	if len(a.pages) == 0 || a.used+c > logPage {
		a.pages = append(a.pages, make([]entry, logPage))
		a.used = 0
	}
	p := a.pages[len(a.pages)-1]
	log := p[a.used : a.used : a.used+c]
	a.used += c
	return log
}

// release takes back a log that is no longer used.
func (a *logArena) release(log []entry) {
	if k := logClass(cap(log)); k >= 0 && logClasses()[k] == cap(log) {
		a.free[k] = append(a.free[k], log[:0])
	}
}

// grow returns log with room for n more entries, moved to a larger chunk
// when it has to be.
func (a *logArena) grow(log []entry, n int) []entry {
	if len(log)+n <= cap(log) {
		return log
	}
	bigger := append(a.alloc(len(log)+n), log...)
	a.release(log)
	return bigger
}
