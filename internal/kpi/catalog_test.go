package kpi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCatalogEntries checks that every entry has a helpdesk_ name of its
// own, a help text, and exactly the reader its kind says.
func TestCatalogEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Catalog() {
		require.True(t, strings.HasPrefix(k.Name, "helpdesk_"), k.Name)
		require.False(t, seen[k.Name], "%s twice", k.Name)
		seen[k.Name] = true
		require.NotEmpty(t, k.Help, k.Name)
		readers := map[ValueKind]bool{CountValue: k.Count != nil, RatioValue: k.Ratio != nil, QuantileValues: k.Quantiles != nil}
		for kind, set := range readers {
			require.Equal(t, kind == k.Kind, set, "%s: reader of kind %d", k.Name, kind)
		}
	}
}

// TestCatalogReads reads a few entries of each kind from hand-filled
// Values: counts always, ratios and quantiles only with samples.
func TestCatalogReads(t *testing.T) {
	full := &Values{Opened: 3, Resolved: 4, Reopened: 1, CSATResponses: 4, CSATSatisfied: 3,
		FirstReplies: 2, FirstReplyMs: 90_000, FirstReplyQuantiles: []float64{40, 50}}
	empty := &Values{}
	byName := map[string]Windowed{}
	for _, k := range Catalog() {
		byName[k.Name] = k
	}
	cases := []struct {
		name      string
		v         *Values
		want      any
		exported  bool
		wantKind  ValueKind
		quantiles []float64
	}{
		{"helpdesk_tickets_opened", full, int64(3), true, CountValue, nil},
		{"helpdesk_tickets_opened", empty, int64(0), true, CountValue, nil},
		{"helpdesk_reopen_ratio", full, 0.25, true, RatioValue, nil},
		{"helpdesk_reopen_ratio", empty, nil, false, RatioValue, nil},
		{"helpdesk_csat_ratio", full, 0.75, true, RatioValue, nil},
		{"helpdesk_first_reply_time_avg_seconds", full, 45.0, true, RatioValue, nil},
		{"helpdesk_first_reply_time_seconds", full, nil, true, QuantileValues, []float64{40, 50}},
		{"helpdesk_first_reply_time_seconds", empty, nil, false, QuantileValues, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := byName[tc.name]
			require.True(t, ok)
			require.Equal(t, tc.wantKind, k.Kind)
			switch k.Kind {
			case CountValue:
				require.Equal(t, tc.want, k.Count(tc.v))
			case RatioValue:
				x, ok := k.Ratio(tc.v)
				require.Equal(t, tc.exported, ok)
				if ok {
					require.InDelta(t, tc.want, x, 1e-12)
				}
			case QuantileValues:
				require.Equal(t, tc.quantiles, k.Quantiles(tc.v))
				require.Equal(t, tc.exported, k.Quantiles(tc.v) != nil)
			}
		})
	}
}

// TestCatalogIsACopy: a caller that edits its catalog does not change
// another's.
func TestCatalogIsACopy(t *testing.T) {
	a := Catalog()
	a[0].Name = "changed"
	require.NotEqual(t, "changed", Catalog()[0].Name)
}
