package kpi

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// TestLabelOverflow admits the first 2 of 5 teams, with channels email and
// chat allowed, and counts after each event the openings whose channel or
// team became "other". Empty values are unknown, "other" itself is not
// replaced, and events that are not openings (or duplicates) carry no
// labels of their own.
func TestLabelOverflow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Channels = []string{"email", "chat"}
	cfg.MaxTeams = 2
	s, err := New(cfg, at(60))
	require.NoError(t, err)
	opening := func(id, channel, teamName string) *events.Event {
		return ev(id, events.TicketOpened, "T-"+id, 10, ch(channel), team(teamName))
	}
	steps := []struct {
		name              string
		ev                *events.Event
		channels, teamsOf int64 // the counts after the event
	}{
		{"first team admitted", opening("1", "email", "a"), 0, 0},
		{"second team admitted", opening("2", "chat", "b"), 0, 0},
		{"third team and a channel outside the list", opening("3", "fax", "c"), 1, 1},
		{"fourth team, unknown channel", opening("4", "", "d"), 1, 2},
		{"fifth team, channel other itself", opening("5", "other", "e"), 1, 3},
		{"admitted team, another channel outside", opening("6", "sms", "a"), 2, 3},
		{"third team again", opening("7", "chat", "c"), 2, 4},
		{"unknown team", opening("8", "email", ""), 2, 4},
		{"team other itself", opening("9", "email", "other"), 2, 4},
		{"a duplicate of an overflowing opening", opening("3", "fax", "c"), 2, 4},
		{"a reply to a ticket of an overflowing team", ev("r3", events.TicketFirstReply, "T-3", 11, ch("fax"), team("c")), 2, 4},
	}
	for _, st := range steps {
		s.Apply(st.ev)
		var want [numOverflows]int64
		want[OverflowChannel], want[OverflowTeam] = st.channels, st.teamsOf
		require.Equal(t, want, s.View(at(60)).LabelOverflow, st.name)
	}
	snap := s.View(at(60))
	// Openings counted as team other: 3, 4, 5, 7 replaced, and 9.
	require.Equal(t, int64(5), cell(t, snap, "1h", Cell{LabelAll, LabelAll, LabelOther}).Opened)
	// As channel other: 3, 5 and 6.
	require.Equal(t, int64(3), cell(t, snap, "1h", Cell{LabelOther, LabelAll, LabelAll}).Opened)

	// The counts survive a restart, and go on from there.
	data := s.AppendBinary(nil)
	restored, err := Restore(cfg, data)
	require.NoError(t, err)
	require.Equal(t, snap.LabelOverflow, restored.View(at(60)).LabelOverflow)
	restored.Apply(opening("10", "fax", "f"))
	require.Equal(t, [numOverflows]int64{OverflowChannel: 3, OverflowTeam: 5}, restored.View(at(60)).LabelOverflow)
}

// TestLabelOverflowFixedTeams: with a team allow-list, every team outside
// it is counted.
func TestLabelOverflowFixedTeams(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Teams = []string{"billing"}
	s, err := New(cfg, at(60))
	require.NoError(t, err)
	cases := []struct {
		team string
		want int64
	}{{"billing", 0}, {"support", 1}, {"sales", 2}, {"billing", 2}, {"support", 3}}
	for i, tc := range cases {
		id := string(rune('a' + i))
		s.Apply(ev(id, events.TicketOpened, id, 10, team(tc.team)))
		require.Equal(t, tc.want, s.View(at(60)).LabelOverflow[OverflowTeam], "after %s", tc.team)
	}
	require.Zero(t, s.View(at(60)).LabelOverflow[OverflowChannel])
}
