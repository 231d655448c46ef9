package sla

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func hm(h, m int) int { return h*60 + m }

func weekdays(ivs ...Interval) [7][]Interval {
	var w [7][]Interval
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = ivs
	}
	return w
}

func everyDay(ivs ...Interval) [7][]Interval {
	var w [7][]Interval
	for d := range w {
		w[d] = ivs
	}
	return w
}

func TestBusinessHours(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	ny := mustLoad(t, "America/New_York")
	officeHours := weekdays(Interval{hm(9, 0), hm(18, 0)})
	at := func(loc *time.Location, y int, m time.Month, d, h, minute int) time.Time {
		return time.Date(y, m, d, h, minute, 0, 0, loc)
	}
	cases := []struct {
		name  string
		sched Schedule
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"Friday 17:55 plus 1h is Monday 09:55", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 27, 17, 55), time.Hour, at(berlin, 2026, 11, 30, 9, 55)},
		{"opened on Saturday starts Monday 09:00", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 28, 10, 0), 30 * time.Minute, at(berlin, 2026, 11, 30, 9, 30)},
		{"opened before opening", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 30, 8, 0), time.Hour, at(berlin, 2026, 11, 30, 10, 0)},
		{"opened after closing", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 30, 19, 0), time.Hour, at(berlin, 2026, 12, 1, 10, 0)},
		// Mon 10–18 is 8h, Tue 9–18 is 9h: 3h left on Wednesday.
		{"target longer than a business day", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 30, 10, 0), 20 * time.Hour, at(berlin, 2026, 12, 2, 12, 0)},
		// Thu 24 Dec 17:00: 1h that day; Fri 25 a holiday; weekend.
		{"holiday skipped", Schedule{Location: berlin, Week: officeHours, Holidays: []time.Time{time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)}},
			at(berlin, 2026, 12, 24, 17, 0), 2 * time.Hour, at(berlin, 2026, 12, 28, 10, 0)},
		{"several intervals a day", Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(12, 0)}, Interval{hm(13, 0), hm(17, 0)})},
			at(berlin, 2026, 11, 30, 11, 30), time.Hour, at(berlin, 2026, 11, 30, 13, 30)},
		{"exactly at closing moves to the next opening", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 30, 17, 0), time.Hour, at(berlin, 2026, 11, 30, 18, 0)},
		// 24/7 over the spring-forward night: 24h of real time.
		{"Berlin spring forward, round the clock", Schedule{Location: berlin, Week: everyDay(Interval{0, 24 * 60})},
			at(berlin, 2026, 3, 28, 12, 0), 24 * time.Hour, at(berlin, 2026, 3, 29, 13, 0)},
		// Office hours keep their local times across the change.
		{"Berlin spring forward weekend, office hours", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 3, 27, 17, 0), 2 * time.Hour, at(berlin, 2026, 3, 30, 10, 0)},
		// Sunday 01:00–04:00 on the change day is 01:00 CET to 04:00 CEST:
		// two real hours, so 2h30 runs into the next Sunday.
		{"Berlin interval spanning the change", Schedule{Location: berlin, Week: [7][]Interval{time.Sunday: {{hm(1, 0), hm(4, 0)}}}},
			at(berlin, 2026, 3, 29, 1, 0), 150 * time.Minute, at(berlin, 2026, 4, 5, 1, 30)},
		{"Berlin fall back, round the clock", Schedule{Location: berlin, Week: everyDay(Interval{0, 24 * 60})},
			at(berlin, 2026, 10, 24, 12, 0), 24 * time.Hour, at(berlin, 2026, 10, 25, 11, 0)},
		{"New York fall back, round the clock", Schedule{Location: ny, Week: everyDay(Interval{0, 24 * 60})},
			at(ny, 2026, 10, 31, 12, 0), 24 * time.Hour, at(ny, 2026, 11, 1, 11, 0)},
		{"New York fall back weekend, office hours", Schedule{Location: ny, Week: weekdays(Interval{hm(9, 0), hm(17, 0)})},
			at(ny, 2026, 10, 30, 16, 0), 2 * time.Hour, at(ny, 2026, 11, 2, 10, 0)},
		{"New York spring forward, round the clock", Schedule{Location: ny, Week: everyDay(Interval{0, 24 * 60})},
			at(ny, 2026, 3, 7, 12, 0), 24 * time.Hour, at(ny, 2026, 3, 8, 13, 0)},
		{"start given in another zone", Schedule{Location: berlin, Week: officeHours},
			time.Date(2026, 11, 27, 16, 55, 0, 0, time.UTC), time.Hour, at(berlin, 2026, 11, 30, 9, 55)},
		{"zero target outside hours is the next opening", Schedule{Location: berlin, Week: officeHours},
			at(berlin, 2026, 11, 28, 10, 0), 0, at(berlin, 2026, 11, 30, 9, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCalendar(tc.sched)
			require.NoError(t, err)
			got := c.Add(tc.start, tc.d)
			require.True(t, tc.want.Equal(got), "want %v, got %v", tc.want, got.In(tc.want.Location()))
		})
	}
}

func TestScheduleValidation(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	cases := []struct {
		name  string
		sched Schedule
		want  string
	}{
		{"no zone", Schedule{Week: weekdays(Interval{0, 60})}, "timezone"},
		{"no hours", Schedule{Location: berlin}, "no opening hours"},
		{"end before start", Schedule{Location: berlin, Week: weekdays(Interval{hm(18, 0), hm(9, 0)})}, "monday"},
		{"overlap", Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(12, 0)}, Interval{hm(11, 0), hm(13, 0)})}, "overlaps"},
		{"past midnight", Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(25, 0)})}, "00:00-24:00"},
	}
	for _, tc := range cases {
		_, err := NewCalendar(tc.sched)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
}

func TestPolicyDeadlineAndElapsed(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, c.Validate())
	p := &c.Policies[0]
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).UnixNano()
	require.Equal(t, start+int64(15*time.Minute), p.Deadline(start, p.Targets[FirstReply][events.PriorityUrgent]))
	require.Equal(t, 72*time.Hour, p.Targets[Resolution][events.PriorityLow])
	require.Equal(t, time.Hour, p.Targets[NextReply][events.PriorityUrgent])
	require.Equal(t, 90*time.Minute, p.Elapsed(start, start+int64(90*time.Minute)))
	require.True(t, p.PauseOn[Resolution].Has(events.StatusPending))
	require.True(t, p.PauseOn[Resolution].Has(events.StatusOnHold))
	require.False(t, p.PauseOn[Resolution].Has(events.StatusOpen))
	require.Zero(t, p.PauseOn[FirstReply])

	// Business hours: Friday 17:00 to Monday 10:00 in Berlin is one
	// hour of Friday (17–18) and one of Monday (9–10).
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	p.Hours, err = NewCalendar(Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(18, 0)})})
	require.NoError(t, err)
	fri := time.Date(2026, 11, 27, 17, 0, 0, 0, berlin).UnixNano()
	mon := time.Date(2026, 11, 30, 10, 0, 0, 0, berlin).UnixNano()
	require.Equal(t, 2*time.Hour, p.Elapsed(fri, mon))
	require.Equal(t, mon, p.Deadline(fri, 2*time.Hour))

	c.WarnFraction = 1
	require.ErrorContains(t, c.Validate(), "warn_fraction")
	c = DefaultConfig()
	c.Policies = append(c.Policies, DefaultPolicy())
	require.ErrorContains(t, c.Validate(), `sla.policies[1].name: "default" appears twice`)
}

func TestBetweenInvertsAdd(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	c, err := NewCalendar(Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(12, 0)}, Interval{hm(13, 0), hm(17, 30)}),
		Holidays: []time.Time{time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)}})
	require.NoError(t, err)
	start := time.Date(2026, 12, 23, 16, 0, 0, 0, berlin)
	for _, d := range []time.Duration{0, time.Minute, 90 * time.Minute, 5 * time.Hour, 40 * time.Hour} {
		end := c.Add(start, d)
		require.Equal(t, d, c.Between(start, end), "d=%v end=%v", d, end)
	}
	// 23 Dec 16:00 → 28 Dec 10:00: 1h30 on the 23rd, 7h30 on the 24th,
	// the 25th a holiday, a weekend, 1h on Monday the 28th.
	require.Equal(t, 10*time.Hour, c.Between(start, time.Date(2026, 12, 28, 10, 0, 0, 0, berlin)))
}

func BenchmarkBusinessHoursAdd(b *testing.B) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	c, _ := NewCalendar(Schedule{Location: berlin, Week: weekdays(Interval{hm(9, 0), hm(18, 0)})})
	start := time.Date(2026, 11, 27, 17, 55, 0, 0, berlin)
	b.ReportAllocs()
	for b.Loop() {
		c.Add(start, 4*time.Hour)
	}
}
