package sla

import (
	"fmt"
	"slices"
	"time"
)

// Interval is a stretch of business hours within one day, in minutes from
// local midnight: [Start, End), with End at most 24*60.
type Interval struct {
	Start, End int
}

// Schedule is a weekly business-hours schedule in one time zone.
type Schedule struct {
	Location *time.Location
	// Week holds each weekday's intervals, indexed by time.Weekday.
	Week [7][]Interval
	// Holidays are local dates without business hours.
	Holidays []time.Time
}

// Calendar adds business time to instants. It is immutable.
type Calendar struct {
	loc      *time.Location
	week     [7][]Interval
	holidays map[civilDate]bool
}

type civilDate struct {
	y int
	m time.Month
	d int
}

// maxDays bounds the search for business hours: a target never spans more
// than ten years of calendar.
const maxDays = 3660

// NewCalendar validates s and returns its calendar.
func NewCalendar(s Schedule) (*Calendar, error) {
	if s.Location == nil {
		return nil, fmt.Errorf("sla.business_hours.timezone: missing")
	}
	c := &Calendar{loc: s.Location, holidays: map[civilDate]bool{}}
	hasHours := false
	for day, ivs := range s.Week {
		ivs = slices.Clone(ivs)
		slices.SortFunc(ivs, func(a, b Interval) int { return a.Start - b.Start })
		for i, iv := range ivs {
			if iv.Start < 0 || iv.End > 24*60 || iv.Start >= iv.End {
				return nil, fmt.Errorf("sla.business_hours.%s: %s: must be a range within 00:00-24:00 that ends after it starts",
					weekdayKey(time.Weekday(day)), iv)
			}
			if i > 0 && iv.Start < ivs[i-1].End {
				return nil, fmt.Errorf("sla.business_hours.%s: %s overlaps %s", weekdayKey(time.Weekday(day)), iv, ivs[i-1])
			}
		}
		c.week[day] = ivs
		hasHours = hasHours || len(ivs) > 0
	}
	if !hasHours {
		return nil, fmt.Errorf("sla.business_hours: no opening hours on any weekday")
	}
	for _, h := range s.Holidays {
		y, m, d := h.Date()
		c.holidays[civilDate{y, m, d}] = true
	}
	return c, nil
}

// String renders an interval as "09:00-18:00".
func (iv Interval) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60)
}

func weekdayKey(d time.Weekday) string {
	return [...]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}[d]
}

// Add returns the instant at which d of business time has passed since
// start. Time outside business hours does not count, so a clock started
// outside them begins at the next opening. Local times are resolved in the
// schedule's zone on each date, so daylight-saving changes shift the
// openings with the wall clock.
func (c *Calendar) Add(start time.Time, d time.Duration) time.Time {
	t := start.In(c.loc)
	y, m, day := t.Date()
	remaining := d
	for i := range maxDays {
		date := time.Date(y, m, day+i, 12, 0, 0, 0, c.loc) // noon: never skipped by DST
		dy, dm, dd := date.Date()
		if c.holidays[civilDate{dy, dm, dd}] {
			continue
		}
		for _, iv := range c.week[date.Weekday()] {
			open := time.Date(dy, dm, dd, iv.Start/60, iv.Start%60, 0, 0, c.loc)
			closeAt := time.Date(dy, dm, dd, iv.End/60, iv.End%60, 0, 0, c.loc)
			if !closeAt.After(t) {
				continue
			}
			if open.Before(t) {
				open = t
			}
			if avail := closeAt.Sub(open); remaining <= avail {
				return open.Add(remaining)
			}
			remaining -= closeAt.Sub(open)
		}
	}
	// Unreachable with a validated schedule and sane targets: a target
	// that needs more than ten years of business hours never comes due.
	return t.AddDate(10, 0, 0)
}

// Between returns the business time from a to b (a ≤ b): the part of
// [a, b) that falls in business hours. It is the inverse of Add:
// Between(a, Add(a, d)) == d.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	t := a.In(c.loc)
	y, m, day := t.Date()
	var sum time.Duration
	for i := range maxDays {
		date := time.Date(y, m, day+i, 12, 0, 0, 0, c.loc)
		dy, dm, dd := date.Date()
		if !time.Date(dy, dm, dd, 0, 0, 0, 0, c.loc).Before(b) {
			break
		}
		if c.holidays[civilDate{dy, dm, dd}] {
			continue
		}
		for _, iv := range c.week[date.Weekday()] {
			open := time.Date(dy, dm, dd, iv.Start/60, iv.Start%60, 0, 0, c.loc)
			closeAt := time.Date(dy, dm, dd, iv.End/60, iv.End%60, 0, 0, c.loc)
			if open.Before(t) {
				open = t
			}
			if closeAt.After(b) {
				closeAt = b
			}
			if closeAt.After(open) {
				sum += closeAt.Sub(open)
			}
		}
	}
	return sum
}
