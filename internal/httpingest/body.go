package httpingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

var errTooLarge = errors.New("request body too large")

// readBody reads the request body, gzip-decompressed when the request says
// so, up to limit bytes after decompression.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("the body is not gzip, as Content-Encoding says: %w", err)
		}
		defer func() { _ = zr.Close() }() // a read error has been returned already
		in = zr
	default:
		return nil, fmt.Errorf("Content-Encoding %q: only gzip is accepted", enc)
	}
	body, err := io.ReadAll(io.LimitReader(in, limit+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
		}
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes after decompression", errTooLarge, limit)
	}
	return body, nil
}

// splitEvents returns the events of a body: a JSON array of objects, or
// NDJSON (one object per line; blank lines are skipped). At most limit.
func splitEvents(body []byte, limit int) ([][]byte, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("the body holds no events: send a JSON array of events or one event per line (NDJSON)")
	}
	var out [][]byte
	if trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("the body is not a JSON array: %w", err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("event %d: %w", len(out), err)
			}
			if out = append(out, raw); len(out) > limit {
				return nil, fmt.Errorf("%w: more than %d events in one request", errTooLarge, limit)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("the JSON array does not end: %w", err)
		}
		if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
			return nil, errors.New("data after the JSON array")
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(trimmed))
	sc.Buffer(nil, len(trimmed)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if out = append(out, line); len(out) > limit {
			return nil, fmt.Errorf("%w: more than %d events in one request", errTooLarge, limit)
		}
	}
	return out, sc.Err()
}
