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
	policies  int  // SLA policies
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

func newDims(channels, teams []string, maxTeams, policies int) *dims {
	d := &dims{
		channels:  []string{LabelUnknown, LabelOther},
		channelIx: map[string]uint8{},
		teams:     []string{LabelUnknown, LabelOther},
		teamIx:    map[string]uint8{},
		maxTeams:  maxTeams,
		fixed:     len(teams) > 0,
		policies:  policies,
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
	i, overflowed := admit(&d.teams, d.teamIx, b, !d.fixed && len(d.teams)-2 < d.maxTeams)
	if overflowed {
		d.overflow[OverflowTeam]++
	}
	return i
}

// admit returns the index of label value b in names (index 0 unknown, 1
// other) and ix, adding it when it is new and room allows; overflowed
// reports that b was new without room, or reserved, and counts as other.
func admit(names *[]string, ix map[string]uint8, b []byte, room bool) (i uint8, overflowed bool) {
	switch {
	case len(b) == 0 || string(b) == LabelUnknown:
		return idxUnknown, false
	case string(b) == LabelOther:
		return idxOther, false
	}
	if i, ok := ix[string(b)]; ok {
		return i, false
	}
	if !room || string(b) == LabelAll {
		return idxOther, true
	}
	v := string(b)
	ix[v] = uint8(len(*names))
	*names = append(*names, v)
	return ix[v], false
}

func (d *dims) breakdown(ev *events.Event) breakdown {
	return breakdown{ch: d.channel(ev.Channel), pri: uint8(ev.Priority), team: d.team(ev.Team)}
}

// update returns the values a ticket.updated sets, in the fields its
// Changes name (the others are zero).
func (d *dims) update(ev *events.Event) breakdown {
	var bd breakdown
	if ev.Changes&events.ChangeChannel != 0 {
		bd.ch = d.channel(ev.Channel)
	}
	if ev.Changes&events.ChangePriority != 0 {
		bd.pri = uint8(ev.Priority)
	}
	if ev.Changes&events.ChangeTeam != 0 {
		bd.team = d.team(ev.Team)
	}
	return bd
}

// changed returns bd with the values of an update e applied.
func changed(bd breakdown, e entry) breakdown {
	nb, c := e.update(), e.changes()
	if c&events.ChangeChannel != 0 {
		bd.ch = nb.ch
	}
	if c&events.ChangePriority != 0 {
		bd.pri = nb.pri
	}
	if c&events.ChangeTeam != 0 {
		bd.team = nb.team
	}
	return bd
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
// It takes 7 (channel indices stay below 2+maxChannels) + 3 + 8 + 2 bits:
// within windows.MaxGroup.
func histGroup(bd breakdown, h int) uint32 {
	return uint32(bd.ch) | uint32(bd.pri)<<7 | uint32(bd.team)<<10 | uint32(h)<<18
}

func (d *dims) expandHists(group uint32, dst []int) []int {
	bd := breakdown{ch: uint8(group & 127), pri: uint8(group >> 7 & 7), team: uint8(group >> 10)}
	h := int(group >> 18)
	for _, c := range d.cells(bd) {
		dst = append(dst, c*numHists+h)
	}
	return dst
}

// slaLabels are the labels an SLA clock counts under: its policy and the
// ticket's priority, channel and team.
type slaLabels struct {
	policy, pri, ch, team uint8
}

// SLA cell layout, the breakdown rule with four dimensions: cell 0 is the
// overall value, then one cell per priority (the four real ones: SLA
// clocks run only on tracked tickets), per channel, per team slot and per
// policy.
func (d *dims) numSLACells() int {
	return 1 + events.NumPriorities + len(d.channels) + 2 + d.maxTeams + d.policies
}

func (d *dims) slaCells(l slaLabels) [5]int {
	ch := 1 + events.NumPriorities
	team := ch + len(d.channels)
	pol := team + 2 + d.maxTeams
	return [5]int{0, 1 + int(l.pri), ch + int(l.ch), team + int(l.team), pol + int(l.policy)}
}
