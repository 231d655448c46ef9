package events

// The JSON syntax scanner of Decode's first pass: it validates the whole
// message without allocating and records the spans of the known fields.
//
// The name keeps this file next to decode.go: the linker lays functions out
// in file order, so the scanner's code follows Decode as it did before the
// split, wherever the field rules grow. Its hot loops are sensitive to that
// placement (up to 20% in BenchmarkDecode, from 32-byte shifts alone).

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of objects and arrays Decode accepts,
// counting the event object itself. It bounds the work spent on hostile
// input; real events nest two levels deep.
const maxDepth = 512

// fail records a syntax error at the current position and returns false.
func (d *decoder) fail(msg string) bool {
	d.errMsg, d.errPos = msg, d.pos
	return false
}

// failChar records an unexpected byte (or end of input) at the current position.
func (d *decoder) failChar() bool {
	if d.pos >= len(d.data) {
		return d.fail("unexpected end of input")
	}
	if c := d.data[d.pos]; c >= ' ' && c < utf8.RuneSelf {
		return d.fail("unexpected character " + strconv.QuoteRune(rune(c)))
	}
	return d.fail("unexpected byte 0x" + strconv.FormatUint(uint64(d.data[d.pos]), 16))
}

// peek returns the byte at the current position, or 0 (valid nowhere outside
// strings) at the end of the input.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// scanEvent scans the whole message: one object, surrounded by optional
// whitespace.
func (d *decoder) scanEvent() bool {
	d.skipWS()
	if d.peek() != '{' {
		if d.pos >= len(d.data) {
			return d.fail("unexpected end of input")
		}
		return d.fail("top-level value is not an object")
	}
	if !d.scanObject(false, 1) {
		return false
	}
	d.skipWS()
	if d.pos != len(d.data) {
		return d.fail("unexpected data after the object")
	}
	return true
}

// scanObject scans the object at the current position, the event or (if
// survey is set) its survey, which is nested in depth-1 containers. It records
// the known members and skips the others.
func (d *decoder) scanObject(survey bool, depth int) bool {
	d.pos++ // '{'
	d.skipWS()
	if d.peek() == '}' {
		d.pos++
		return true
	}
	var buf [maxKeyLen]byte
	for {
		key, ok := d.scanKey(&buf)
		if !ok {
			return false
		}
		var f field
		if survey {
			f = surveyField(key)
		} else {
			f = eventField(key)
		}
		switch f {
		case fUnknown:
			ok = d.skipValue(depth)
		case fSurvey:
			// Reset the survey's members so that the last "survey" wins as a whole.
			d.fields[fSurveyKind], d.fields[fSurveyScore] = span{}, span{}
			if d.peek() == '{' {
				d.fields[fSurvey] = span{kind: kindObject}
				ok = d.scanObject(true, depth+1)
			} else {
				ok = d.scanValue(fSurvey, depth)
			}
		default:
			ok = d.scanValue(f, depth)
		}
		if !ok {
			return false
		}
		d.skipWS()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipWS()
		case '}':
			d.pos++
			return true
		default:
			return d.failChar()
		}
	}
}

// scanKey scans a member name, the colon and the whitespace around it. It
// returns the unescaped name when it may be a known one (it fits buf and has
// no lone surrogate), and nil otherwise.
func (d *decoder) scanKey(buf *[maxKeyLen]byte) ([]byte, bool) {
	if d.peek() != '"' {
		return nil, d.failChar()
	}
	start, end, escaped, ok := d.scanString()
	if !ok {
		return nil, false
	}
	d.skipWS()
	if d.peek() != ':' {
		return nil, d.failChar()
	}
	d.pos++
	d.skipWS()
	raw := d.data[start:end]
	if !escaped {
		return raw, true
	}
	n, fits, _ := unescape(buf[:], raw)
	if !fits {
		return nil, true
	}
	return buf[:n], true
}

// scanValue scans the value at the current position, nested in depth
// containers, and records it as the last value of f.
func (d *decoder) scanValue(f field, depth int) bool {
	start := d.pos
	switch c := d.peek(); {
	case c == '"':
		s, e, escaped, ok := d.scanString()
		d.fields[f] = span{kind: kindString, escaped: escaped, start: s, end: e}
		return ok
	case c == '-' || '0' <= c && c <= '9':
		ok := d.scanNumber()
		d.fields[f] = span{kind: kindNumber, start: start, end: d.pos}
		return ok
	case c == 'n':
		d.fields[f] = span{}
		return d.scanLiteral("null")
	default:
		d.fields[f] = span{kind: kindOther}
		return d.skipValue(depth)
	}
}

// skipValue validates and skips the value at the current position, nested
// in depth containers. It does not recurse: the kinds of the open containers
// are kept in a bit stack.
func (d *decoder) skipValue(depth int) bool {
	var objects [(maxDepth + 63) / 64]uint64 // bit i set: open container i is an object
	n := 0                                   // open containers
	for {
		// A value starts at d.pos.
		switch c := d.peek(); c {
		case '{', '[':
			if depth+n >= maxDepth {
				return d.fail("nesting deeper than " + strconv.Itoa(maxDepth) + " levels")
			}
			d.pos++
			if c == '{' {
				objects[n/64] |= 1 << (n % 64)
			} else {
				objects[n/64] &^= 1 << (n % 64)
			}
			n++
			d.skipWS()
			if c == '{' && d.peek() == '}' || c == '[' && d.peek() == ']' {
				d.pos++
				n--
				break // an empty container is a complete value
			}
			if c == '{' && !d.skipKey() {
				return false
			}
			continue // its first value
		case '"':
			if _, _, _, ok := d.scanString(); !ok {
				return false
			}
		case 't':
			if !d.scanLiteral("true") {
				return false
			}
		case 'f':
			if !d.scanLiteral("false") {
				return false
			}
		case 'n':
			if !d.scanLiteral("null") {
				return false
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return d.failChar()
			}
			if !d.scanNumber() {
				return false
			}
		}
		// A value ended: close containers until one continues with another value.
		for {
			if n == 0 {
				return true
			}
			d.skipWS()
			object := objects[(n-1)/64]&(1<<((n-1)%64)) != 0
			c := d.peek()
			if c == ',' {
				d.pos++
				d.skipWS()
				if object && !d.skipKey() {
					return false
				}
				break
			}
			if object && c == '}' || !object && c == ']' {
				d.pos++
				n--
				continue
			}
			return d.failChar()
		}
	}
}

// skipKey scans a member name of an unknown object, the colon and the
// whitespace around it.
func (d *decoder) skipKey() bool {
	if d.peek() != '"' {
		return d.failChar()
	}
	if _, _, _, ok := d.scanString(); !ok {
		return false
	}
	d.skipWS()
	if d.peek() != ':' {
		return d.failChar()
	}
	d.pos++
	d.skipWS()
	return true
}

// scanString scans the string at the current position (at its opening
// quote). It returns the bounds of the raw text between the quotes and
// whether it contains escapes. It checks that the text is valid UTF-8 without
// control characters and that every escape is valid.
func (d *decoder) scanString() (start, end int, escaped, ok bool) {
	data := d.data
	start = d.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return 0, 0, false, d.fail("invalid UTF-8")
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			return start, i, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				i = len(data)
				continue
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || hex4(data[i+2:i+6]) < 0 {
					d.pos = i
					return 0, 0, false, d.fail("invalid \\u escape in string")
				}
				i += 6
			default:
				d.pos = i
				return 0, 0, false, d.fail("invalid escape in string")
			}
		case c < 0x20:
			d.pos = i
			return 0, 0, false, d.fail("control character in string")
		default:
			i++
		}
	}
	d.pos = len(data)
	return 0, 0, false, d.fail("unexpected end of input in string")
}

// scanNumber scans the number at the current position per the JSON grammar.
func (d *decoder) scanNumber() bool {
	data := d.data
	i := d.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		d.pos = i
		return d.failChar()
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return d.failChar()
		}
		i = skipDigits(data, i+1)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.pos = i
			return d.failChar()
		}
		i = skipDigits(data, i+1)
	}
	d.pos = i
	return true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral scans lit (true, false or null) at the current position.
func (d *decoder) scanLiteral(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.fail("invalid literal, want " + lit)
	}
	d.pos += len(lit)
	return true
}

// hex4 returns the value of four hexadecimal digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape writes the unescaped form of the raw string text src, which
// scanString has validated, into dst. It returns the length written and
// false if dst is too small. The result is never longer than src.
//
// It stops at a \u escape of a lone UTF-16 surrogate and returns lone true
// (and fits false): a high surrogate (\ud800 to \udbff) not directly
// followed by an escaped low one (\udc00 to \udfff), or a low one not
// directly preceded by a high one. encoding/json replaces such an escape by
// U+FFFD, which makes strings that differ only in lone surrogates equal.
func unescape(dst, src []byte) (n int, fits, lone bool) {
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\\')
		if i < 0 {
			i = len(src)
		}
		if n+i > len(dst) {
			return n, false, false
		}
		n += copy(dst[n:], src[:i])
		src = src[i:]
		if len(src) == 0 {
			break
		}
		var r rune
		adv := 2 // length of the escape
		switch c := src[1]; c {
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			r, adv = hex4(src[2:6]), 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate and an escaped low one make a
				// code point; DecodeRune returns U+FFFD for anything else.
				low := rune(-1)
				if len(src) >= 12 && src[6] == '\\' && src[7] == 'u' {
					low = hex4(src[8:12])
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return n, false, true
				}
				adv = 12
			}
		default: // '"', '\\', '/'
			r = rune(c)
		}
		src = src[adv:]
		if n+utf8.RuneLen(r) > len(dst) {
			return n, false, false
		}
		n += utf8.EncodeRune(dst[n:], r)
	}
	return n, true, false
}
