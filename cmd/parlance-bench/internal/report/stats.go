package report

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100, nearest rank) of
// ds, or 0 for none. ds is not modified.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[rank(len(s), p)]
}

// Percentiles is Percentile for several p at once (one sort).
func Percentiles(ds []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(ds) == 0 {
		return out
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	for i, p := range ps {
		out[i] = s[rank(len(s), p)]
	}
	return out
}

// rank is the index of the nearest-rank p-th percentile of n sorted values.
func rank(n int, p float64) int {
	k := int(float64(n)*p/100+0.999999999) - 1
	return min(max(k, 0), n-1)
}

// Ms is d in milliseconds; Us in microseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Us is d in microseconds.
func Us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Latency summarises a latency distribution.
type Latency struct {
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
}

// LatencyOf summarises ds.
func LatencyOf(ds []time.Duration) Latency {
	ps := Percentiles(ds, 50, 99, 100)
	return Latency{Samples: len(ds), P50: ps[0], P99: ps[1], Max: ps[2]}
}
