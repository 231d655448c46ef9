package events

// The parsers of JSON numbers as exact integers and of RFC 3339 timestamps,
// and the year limits of timestamps.

import (
	"bytes"
	"time"
)

// Timestamps must lie in these years (inclusive) so that every instant,
// whatever its offset, fits in int64 Unix nanoseconds.
const (
	minYear = 1678
	maxYear = 2261
)

// parseInteger parses the JSON number b, which scanNumber has validated, as
// an integer of magnitude at most limit, which must be far below the int64
// range. It reports whether the value of b is an integer and, if so, whether
// its magnitude is within limit.
//
// JSON has one number type, so what counts is the exact value, not the
// spelling: a number is an integer if its decimal value is one, whether it is
// written with a fraction of zeros, an exponent or both. 1.0, 1.00, 1e0,
// 1E+0, 10e-1 and 0.1e1 are all 1, and -0 and -0.0 are 0; 1.5, 1e-1 and
// 0.15e1 are not integers; 1e7 is an integer, beyond the limit of replies.
// The arithmetic is exact decimal on the digits, with no float
// conversion (and no allocation).
func parseInteger(b []byte, limit int) (v int64, integer, inRange bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	// The value is the digits of the mantissa times 10 to the power scale.
	// The exponent saturates at ±(len(b)+20): as b has fewer digits than
	// len(b), from there on its sign alone decides. A positive one makes an
	// integer of more than 20 digits, beyond any limit, and a negative one
	// leaves a fraction (or zero).
	mant, scale := b, 0
	for i, c := range b {
		if c == 'e' || c == 'E' {
			mant, scale = b[:i], parseExponent(b[i+1:], len(b)+20)
			break
		}
	}
	if i := bytes.IndexByte(mant, '.'); i >= 0 {
		scale -= len(mant) - i - 1 // the number of fraction digits
	}
	// Trailing zeros move from the digits into the scale; leading zeros and
	// the point (accounted for above) do not count.
	for len(mant) > 0 && (mant[len(mant)-1] == '0' || mant[len(mant)-1] == '.') {
		if mant[len(mant)-1] == '0' {
			scale++
		}
		mant = mant[:len(mant)-1]
	}
	for len(mant) > 0 && (mant[0] == '0' || mant[0] == '.') {
		mant = mant[1:]
	}
	if len(mant) == 0 {
		return 0, true, true // zero, however written
	}
	if scale < 0 {
		// The digits end in a nonzero digit, so dividing them by a power of
		// ten leaves a fraction.
		return 0, false, false
	}
	for _, c := range mant {
		if c != '.' {
			v = v*10 + int64(c-'0')
			if v > int64(limit) {
				return 0, true, false
			}
		}
	}
	// v is at least 1, so this ends after a few rounds however large scale is.
	for range scale {
		v *= 10
		if v > int64(limit) {
			return 0, true, false
		}
	}
	if neg {
		v = -v
	}
	return v, true, true
}

// parseExponent returns the value of the exponent b of a JSON number (digits
// after an optional sign), saturated at ±sat so that it cannot overflow.
func parseExponent(b []byte, sat int) int {
	neg := b[0] == '-'
	if b[0] == '+' || b[0] == '-' {
		b = b[1:]
	}
	e := 0
	for _, c := range b {
		e = min(e*10+int(c-'0'), sat)
	}
	if neg {
		return -e
	}
	return e
}

// parseTimestamp parses an RFC 3339 date-time with offset,
// YYYY-MM-DDTHH:MM:SS[.fraction]Z or ...±HH:MM, into Unix nanoseconds. The
// fraction has 1 to 9 digits; 't' and 'z' may be lower case.
func parseTimestamp(b []byte) (int64, bool) {
	const layout = "2006-01-02T15:04:05"
	if len(b) < len(layout)+1 ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year := digits(b[0:4])
	month := digits(b[5:7])
	day := digits(b[8:10])
	hour := digits(b[11:13])
	minute := digits(b[14:16])
	sec := digits(b[17:19])
	if year < minYear || year > maxYear || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	rest := b[len(layout):]
	nsec := 0
	if rest[0] == '.' {
		n := skipDigits(rest, 1)
		if n == 1 || n > 10 {
			return 0, false
		}
		nsec = digits(rest[1:n])
		for range 10 - n {
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset := 0 // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := digits(rest[1:3]), digits(rest[4:6])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	wall := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).UnixNano()
	return wall - int64(offset)*int64(time.Second), true
}

// digits returns the value of the decimal digits b, or -1.
func digits(b []byte) int {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// daysIn returns the number of days in month of year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
