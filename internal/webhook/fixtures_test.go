package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/helpdesk-kpi/aggregator/internal/events"
)

// TestFixtures maps every payload fixture and compares the result with
// the events written by hand beside it. Layout, per source:
//
//	testdata/<source>/<case>.json         the helpdesk's payload
//	testdata/<source>/<case>.headers      optional: "Name: value" lines
//	testdata/<source>/<case>.events.json  the expected contract events (a JSON array)
//	testdata/<source>/README.md           where each payload's shape comes from
//
// Every expected event must also pass the aggregator's own decoder and
// the JSON Schema of an event, docs/event.schema.json.
func TestFixtures(t *testing.T) {
	schema := loadSchema(t)
	for _, src := range All() {
		dir := filepath.Join("testdata", src.Name())
		payloads, err := filepath.Glob(filepath.Join(dir, "*.json"))
		require.NoError(t, err)
		for _, p := range payloads {
			if strings.HasSuffix(p, ".events.json") {
				continue
			}
			name := strings.TrimSuffix(filepath.Base(p), ".json")
			t.Run(src.Name()+"/"+name, func(t *testing.T) {
				body, err := os.ReadFile(p)
				require.NoError(t, err)
				h := readHeaders(t, strings.TrimSuffix(p, ".json")+".headers")
				labels := src.Labels()
				got, err := src.Map(h, body, &labels)
				require.NoError(t, err)
				wantRaw, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".events.json")
				require.NoError(t, err, "every payload needs its expected events")
				var want []Event
				require.NoError(t, json.Unmarshal(wantRaw, &want))
				if len(want) == 0 {
					want = nil
				}
				require.Equal(t, jsonOf(t, want), jsonOf(t, got))
				for _, e := range want {
					raw, err := json.Marshal(e)
					require.NoError(t, err)
					var ev events.Event
					require.NoError(t, events.Decode(raw, &ev), "%s", raw)
					doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
					require.NoError(t, err)
					require.NoError(t, schema.Validate(doc), "%s", raw)
				}
			})
		}
		if len(payloads) > 0 {
			require.FileExists(t, filepath.Join(dir, "README.md"), "%s: say where the fixtures come from", src.Name())
		}
	}
}

// loadSchema compiles docs/event.schema.json.
func loadSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(filepath.Join("..", "..", "docs", "event.schema.json"))
	require.NoError(t, err)
	return sch
}

func readHeaders(t *testing.T, path string) http.Header {
	h := http.Header{}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return h
	}
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, ok := strings.Cut(line, ":")
		require.True(t, ok, "%s: %q", path, line)
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

func jsonOf(t *testing.T, evs []Event) string {
	t.Helper()
	b, err := json.MarshalIndent(evs, "", "  ")
	require.NoError(t, err)
	return string(b)
}

// TestSchemaAgreesWithDecoder: events the decoder refuses, the schema
// refuses too, and the other way round, for a few hand-picked cases.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	schema := loadSchema(t)
	for _, c := range []struct {
		event string
		valid bool
	}{
		{`{"id":"a","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z","priority":"high","extra":{"x":1}}`, true},
		{`{"id":"a","type":"ticket.opened","occurred_at":"2026-11-23T08:00:00Z"}`, false},
		{`{"id":"a","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23 08:00:00"}`, false},
		{`{"id":"a","type":"ticket.opened","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z","priority":"p1"}`, false},
		{`{"id":"a","type":"ticket.status_changed","ticket_id":"T","occurred_at":"2026-11-23T08:00:00+01:00","status":"pending"}`, true},
		{`{"id":"a","type":"ticket.status_changed","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, false},
		{`{"id":"a","type":"ticket.status_changed","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z","status":"solved"}`, false},
		{`{"id":"a","type":"ticket.updated","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z","team":"b"}`, true},
		{`{"id":"a","type":"ticket.updated","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, false},
		{`{"id":"a","type":"ticket.resolved","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z","replies":-1}`, false},
		{`{"id":"a","type":"survey.answered","occurred_at":"2026-11-23T08:00:00Z","survey":{"kind":"nps","score":10}}`, true},
		{`{"id":"a","type":"survey.answered","occurred_at":"2026-11-23T08:00:00Z","survey":{"kind":"csat","score":6}}`, false},
		{`{"id":"","type":"ticket.replied","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, false},
		{`{"id":"a","type":"ticket.escalated","ticket_id":"T","occurred_at":"2026-11-23T08:00:00Z"}`, false},
	} {
		var ev events.Event
		decodeErr := events.Decode([]byte(c.event), &ev)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(c.event))
		require.NoError(t, err)
		schemaErr := schema.Validate(doc)
		require.Equal(t, c.valid, decodeErr == nil, "decoder on %s: %v", c.event, decodeErr)
		require.Equal(t, c.valid, schemaErr == nil, "schema on %s: %v", c.event, schemaErr)
	}
}

// requireBadPayload requires body to be refused by src as a payload that
// cannot be read, for a reason that contains want, and to map to nothing.
func requireBadPayload(t *testing.T, src Source, body, want string) {
	t.Helper()
	l := src.Labels()
	evs, err := src.Map(http.Header{}, []byte(body), &l)
	require.ErrorIs(t, err, ErrBadPayload)
	require.ErrorContains(t, err, want)
	require.Nil(t, evs)
}
