package lan

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDiscoveryLatency measures, on lo, how long nodes take to see
// each other with the announce interval far away (10 s), i.e. through the
// immediate re-announce alone:
//
//   - join: one node joins N-1 that have been running (quiet for a
//     moment); until it sees all of them and all of them see it.
//   - together: N nodes start one right after another (each opens its
//     socket and announces); until every pair has met.
//
// ns/op covers a whole round (opening and closing every socket); the
// latency, from the start to the last of the sightings as the handlers
// got them, is the ms/discovery metric.
func BenchmarkDiscoveryLatency(b *testing.B) {
	for _, n := range []int{2, 10} {
		b.Run(fmt.Sprintf("join/N=%d", n), func(b *testing.B) { benchJoin(b, n) })
		b.Run(fmt.Sprintf("together/N=%d", n), func(b *testing.B) { benchTogether(b, n) })
	}
}

func benchConfig(b *testing.B, port uint16, i int) Config {
	cfg := loConfig(b, port, fmt.Sprint("node", i))
	cfg.Logger = nil // discard
	return cfg
}

func benchJoin(b *testing.B, n int) {
	var total time.Duration
	rounds := 0
	for b.Loop() {
		port := testPort()
		var group []*node
		for i := range n - 1 {
			group = append(group, newNode(b, benchConfig(b, port, i)))
		}
		for _, g := range group {
			g.start()
		}
		waitAllPairs(b, group)
		// The scenario is a group that has been running for a while: wait
		// out the re-announces its own start caused.
		time.Sleep(2 * DefaultReannounceGap)

		joiner := newNode(b, benchConfig(b, port, n))
		start := time.Now()
		joiner.start()
		total += waitAllPairs(b, append(group, joiner)).Sub(start)
		rounds++

		for _, x := range append(group, joiner) {
			x.stop(b)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(rounds), "ms/discovery")
}

func benchTogether(b *testing.B, n int) {
	var total time.Duration
	rounds := 0
	for b.Loop() {
		port := testPort()
		var nodes []*node
		start := time.Now()
		for i := range n {
			x := newNode(b, benchConfig(b, port, i))
			x.start()
			nodes = append(nodes, x)
		}
		total += waitAllPairs(b, nodes).Sub(start)
		rounds++

		for _, x := range nodes {
			x.stop(b)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(rounds), "ms/discovery")
}
