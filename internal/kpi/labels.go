package kpi

import (
	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// Label values with a fixed meaning.
const (
	LabelAll     = "all"     // the overall value, or "not broken down by this label"
	LabelUnknown = "unknown" // the event or its ticket did not say
	LabelOther   = "other"   // a value outside the allow-list
)

// Label overflows, indices of View.LabelOverflow: openings whose
// channel or team was replaced by "other".
const (
	OverflowChannel = iota // a channel outside the allow-list
	OverflowTeam           // a team outside the allow-list, or beyond MaxTeams
	numOverflows
)

// breakdown is where a ticket's events are counted: an index into the
// channel, priority and team label values.
type breakdown struct {
	ch, pri, team uint8
}

// dims turns event strings into bounded label indices. Channels are fixed
// by configuration; teams are either fixed or admitted in stream order up
// to a limit. Index 0 is "unknown" and index 1 is "other" in both lists;
// priority index NumPriorities is "unknown".
type dims struct {
	channels  []string
	channelIx map[string]uint8
	teams     []string
	teamIx    map[string]uint8
	maxTeams  int  // teams beyond unknown and other
	fixed     bool // teams come from configuration; no admission
	// overflow counts the values replaced by other, by OverflowChannel
	// and OverflowTeam; a value that is "other" itself is not counted.
	overflow [numOverflows]int64
}

const (
	idxUnknown = 0
	idxOther   = 1
	// priUnknown is the priority index of events without a known ticket.
	priUnknown = events.NumPriorities
	numPri     = events.NumPriorities + 1
)

func newDims(channels, teams []string, maxTeams int) *dims {
	d := &dims{
		channels:  []string{LabelUnknown, LabelOther},
		channelIx: map[string]uint8{},
		teams:     []string{LabelUnknown, LabelOther},
		teamIx:    map[string]uint8{},
		maxTeams:  maxTeams,
		fixed:     len(teams) > 0,
	}
	for _, c := range channels {
		addLabel(&d.channels, d.channelIx, c)
	}
	if d.fixed {
		for _, t := range teams {
			addLabel(&d.teams, d.teamIx, t)
		}
		d.maxTeams = len(d.teams) - 2
	}
	return d
}

func addLabel(list *[]string, ix map[string]uint8, v string) {
	if v == LabelUnknown || v == LabelOther || v == LabelAll {
		return
	}
	if _, ok := ix[v]; ok {
		return
	}
	ix[v] = uint8(len(*list))
	*list = append(*list, v)
}

func (d *dims) channel(b []byte) uint8 {
	if len(b) == 0 || string(b) == LabelUnknown {
		return idxUnknown
	}
	if i, ok := d.channelIx[string(b)]; ok {
		return i
	}
	if string(b) != LabelOther {
		d.overflow[OverflowChannel]++
	}
	return idxOther
}

// team returns the index of team b, admitting it while there is room.
// channel and team count the values they replace by other.
func (d *dims) team(b []byte) uint8 {
	if len(b) == 0 || string(b) == LabelUnknown {
		return idxUnknown
	}
	if i, ok := d.teamIx[string(b)]; ok {
		return i
	}
	if string(b) == LabelOther {
		return idxOther
	}
	if d.fixed || len(d.teams)-2 >= d.maxTeams || string(b) == LabelAll {
		d.overflow[OverflowTeam]++
		return idxOther
	}
	v := string(b)
	d.teamIx[v] = uint8(len(d.teams))
	d.teams = append(d.teams, v)
	return d.teamIx[v]
}

func (d *dims) breakdown(ev *events.Event) breakdown {
	return breakdown{ch: d.channel(ev.Channel), pri: uint8(ev.Priority), team: d.team(ev.Team)}
}

// unknown is the breakdown of events whose ticket is not known.
func unknown() breakdown { return breakdown{ch: idxUnknown, pri: priUnknown, team: idxUnknown} }

// Cell layout: cell 0 is the overall value, then one cell per channel, per
// priority (unknown included) and per team slot.
func (d *dims) numCells() int { return 1 + len(d.channels) + numPri + 2 + d.maxTeams }

func (d *dims) cells(bd breakdown) [4]int {
	return [4]int{0, 1 + int(bd.ch), 1 + len(d.channels) + int(bd.pri), 1 + len(d.channels) + numPri + int(bd.team)}
}

// priorityLabel returns the label value of priority index p.
func priorityLabel(p int) string {
	if p == priUnknown {
		return LabelUnknown
	}
	return events.Priority(p).String()
}

// histGroup packs a breakdown and a histogram kind into one window
// observation group; expandHists unpacks it into the histogram of each of
// the breakdown's cells.
// It takes 8 + 3 + 8 + 1 bits: within windows.MaxGroup.
func histGroup(bd breakdown, h int) uint32 {
	return uint32(bd.ch) | uint32(bd.pri)<<8 | uint32(bd.team)<<11 | uint32(h)<<19
}

func (d *dims) expandHists(group uint32, dst []int) []int {
	bd := breakdown{ch: uint8(group), pri: uint8(group >> 8 & 7), team: uint8(group >> 11)}
	h := int(group >> 19)
	for _, c := range d.cells(bd) {
		dst = append(dst, c*numHists+h)
	}
	return dst
}
