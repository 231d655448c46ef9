package webhook

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
// Every expected event must also pass the aggregator's own decoder.
func TestFixtures(t *testing.T) {
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
				}
			})
		}
		if len(payloads) > 0 {
			require.FileExists(t, filepath.Join(dir, "README.md"), "%s: say where the fixtures come from", src.Name())
		}
	}
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
