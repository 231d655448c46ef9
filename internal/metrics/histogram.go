package metrics

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/helpdesk-kpi/aggregator/internal/kpi"
)

// histogram is a const histogram with both classic buckets and native
// buckets, which client_golang's const constructors do not combine. A
// Prometheus scraping the text format sees the classic buckets; one
// scraping protobuf with native histograms enabled sees both.
type histogram struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *dto.Histogram
}

func newHistogram(desc *prometheus.Desc, bounds []float64, d kpi.DurationHistogram) prometheus.Metric {
	h := &dto.Histogram{
		SampleCount:   proto.Uint64(d.Count),
		SampleSum:     proto.Float64(d.SumSeconds),
		Schema:        proto.Int32(kpi.NativeSchema),
		ZeroThreshold: proto.Float64(kpi.NativeZeroThreshold),
		ZeroCount:     proto.Uint64(d.NativeZero),
	}
	for i, ub := range bounds {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(d.Buckets[i])})
	}
	// Spans of consecutive non-empty buckets; counts as deltas.
	var prevIdx int
	var prevCount int64
	for n, idx := range slices.Sorted(maps.Keys(d.Native)) {
		c := d.Native[idx]
		if c == 0 {
			continue
		}
		switch {
		case n == 0 || len(h.PositiveSpan) == 0:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(idx)), Length: proto.Uint32(0)})
		case idx != prevIdx+1:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(idx - prevIdx - 1)), Length: proto.Uint32(0)})
		}
		span := h.PositiveSpan[len(h.PositiveSpan)-1]
		*span.Length++
		h.PositiveDelta = append(h.PositiveDelta, c-prevCount)
		prevIdx, prevCount = idx, c
	}
	return &histogram{desc: desc, labels: prometheus.MakeLabelPairs(desc, []string{d.Channel, d.Priority}), h: h}
}

func (m *histogram) Desc() *prometheus.Desc { return m.desc }

func (m *histogram) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Histogram = m.h
	return nil
}
