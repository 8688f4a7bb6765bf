package sqlite

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

// texts makes message texts from a vocabulary of made-up words with the
// skewed frequencies of real language (Zipf), 3 to 16 words each.
type texts struct {
	words []string
	zipf  *mrand.Zipf
	rng   *mrand.Rand
}

func newTexts(seed uint64) *texts {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	t := &texts{rng: rng, zipf: mrand.NewZipf(rng, 1.1, 1, 19999)}
	for range 20000 {
		b := make([]byte, 2+rng.IntN(8))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		t.words = append(t.words, string(b))
	}
	return t
}

func (t *texts) next() string {
	n := 3 + t.rng.IntN(14)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.words[t.zipf.Uint64()])
	}
	return b.String()
}

// batch makes n incoming messages as a peer sends them, with random ids.
func batch(tx *texts, n int, conv store.ConvID, at time.Time) []store.Message {
	ms := make([]store.Message, n)
	for i := range ms {
		id := make([]byte, 16)
		rand.Read(id)
		ms[i] = store.Message{ID: hex.EncodeToString(id), Conv: conv, Peer: string(conv), From: "bob",
			Text: tx.next(), Sent: at, At: at, State: store.Received}
	}
	return ms
}

// BenchmarkAppend measures committed messages per second, in batches,
// with the search index on, beside the in-memory store in the same run.
//
//	go test -run '^$' -bench Append -benchtime 2s ./app/store/sqlite/
func BenchmarkAppend(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memory", func(b *testing.B) store.Store { return store.NewMemory(0) }},
		{"sqlite", func(b *testing.B) store.Store { return openTemp(b, Options{History: true}) }},
		{"sqlite-history-off", func(b *testing.B) store.Store { return openTemp(b, Options{History: false}) }},
		{"sqlite-syncfull", func(b *testing.B) store.Store { return openTemp(b, Options{History: true, SyncFull: true}) }},
	}
	for _, size := range []int{1, 64, 512} {
		for _, st := range stores {
			b.Run(fmt.Sprintf("batch=%d/%s", size, st.name), func(b *testing.B) {
				s := st.open(b)
				defer s.Close()
				tx := newTexts(1)
				// Make the batches before the clock starts.
				const distinct = 64
				batches := make([][]store.Message, 0, distinct)
				for range min(b.N, distinct) {
					batches = append(batches, batch(tx, size, "id:B", time.Now()))
				}
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := range b.N {
					ms := batches[i%len(batches)]
					if i >= len(batches) { // new ids, same texts
						for j := range ms {
							ms[j].ID = fmt.Sprint(i, "-", j)
						}
					}
					if _, err := s.Append(ms); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
				// On a machine shared with other work, wall-clock
				// rates fall with the load; the rate per second of
				// CPU this process got does much less.
				b.ReportMetric(float64(b.N*size)/(cpuTime()-cpu0).Seconds(), "msgs/cpu-s")
			})
		}
	}
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since cpu0: on a loaded
// machine it moves much less than the wall-clock time.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// The benchmarks on a database of a million messages are slow to set up:
// they run only with PARLANCE_BENCH_1M set, to the database file to use
// (made on the first run, reused after):
//
//	PARLANCE_BENCH_1M=/tmp/bench1m.db go test -run '^$' -bench 1M -benchtime 100x ./app/store/sqlite/
const (
	bigMessages = 1_000_000
	bigConvs    = 100
)

func bigDB(b *testing.B) string {
	path := os.Getenv("PARLANCE_BENCH_1M")
	if path == "" {
		b.Skip("set PARLANCE_BENCH_1M to a file name to run the benchmarks on a million messages")
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	s, err := Open(path+".part", Options{History: true})
	if err != nil {
		b.Fatal(err)
	}
	tx := newTexts(2)
	rng := mrand.New(mrand.NewPCG(3, 4))
	at := time.Now().Add(-365 * 24 * time.Hour)
	for n := 0; n < bigMessages; n += 500 {
		// Conversations of very different sizes: conversation 0 has
		// about a third of the messages.
		conv := bigConv(rng.IntN(bigConvs))
		if rng.IntN(3) == 0 {
			conv = bigConv(0)
		}
		ms := batch(tx, 500, conv, at.Add(time.Duration(n)*30*time.Second))
		for i := range ms {
			if i%3 == 0 {
				ms[i].Outgoing, ms[i].From, ms[i].State = true, "alice", store.Delivered
			} else {
				ms[i].State = store.Read
			}
		}
		if _, err := s.Append(ms); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(path+".part", path); err != nil {
		b.Fatal(err)
	}
	b.Logf("made %s with %d messages in %v", path, bigMessages, time.Since(start))
	return path
}

// bigConv is the conversation of the i-th peer in the big database, named
// as real ones are ("id:" and a 52-character peer ID).
func bigConv(i int) store.ConvID {
	return store.ConvID(fmt.Sprintf("id:PEER%048d", i))
}

// BenchmarkOpen1M: from Open to the first screen (the conversation list
// and the newest page of the largest conversation).
func BenchmarkOpen1M(b *testing.B) {
	path := bigDB(b)
	st, _ := os.Stat(path)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for range b.N {
		s, err := Open(path, Options{History: true})
		if err != nil {
			b.Fatal(err)
		}
		cs, err := s.Conversations()
		if err != nil || len(cs) == 0 {
			b.Fatal(err)
		}
		if h, err := s.History(bigConv(0), 0, 50); err != nil || len(h) != 50 {
			b.Fatal(err, len(h))
		}
		s.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(st.Size())/bigMessages, "file-bytes/msg")
}

// BenchmarkHistory1M: a page of history (PgUp), deep in the largest
// conversation and in a small one.
func BenchmarkHistory1M(b *testing.B) {
	path := bigDB(b)
	s, err := Open(path, Options{History: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, peer := range []int{0, 77} {
		conv := bigConv(peer)
		b.Run(fmt.Sprint("peer=", peer), func(b *testing.B) {
			// The page before the 100th oldest message, and one in the
			// middle of the conversation.
			var n int
			cid := s.convs[conv].cid
			if err := s.conn.QueryRowContext(bg, `SELECT count(*) FROM messages WHERE cid = ?`, cid).Scan(&n); err != nil {
				b.Fatal(err)
			}
			for _, at := range []int{100, n / 2} {
				var before int64
				if err := s.conn.QueryRowContext(bg, `SELECT seq FROM messages WHERE cid = ? ORDER BY seq LIMIT 1 OFFSET ?`, cid, at).Scan(&before); err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("message=%d/%d", at, n), func(b *testing.B) {
					defer reportCPU(b, cpuTime())
					for range b.N {
						if h, err := s.History(conv, before, 50); err != nil || len(h) != 50 {
							b.Fatal(err, len(h))
						}
					}
				})
			}
		})
	}
}

// BenchmarkSearch1M: searches of a million messages, for a rare word, a
// common one, two words, and a short prefix.
func BenchmarkSearch1M(b *testing.B) {
	path := bigDB(b)
	s, err := Open(path, Options{History: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tx := newTexts(2)
	queries := map[string]string{
		"rare":       tx.words[15000],
		"common":     tx.words[0],
		"two-words":  tx.words[10] + " " + tx.words[200],
		"prefix-2":   tx.words[500][:2],
		"no-match":   "qqqqqqqqqq",
		"common-3":   tx.words[0][:3],
		"common-4":   tx.words[0][:4],
		"rare-words": tx.words[9000] + " " + tx.words[12000],
	}
	for _, name := range []string{"rare", "common", "common-3", "common-4", "two-words", "prefix-2", "no-match", "rare-words"} {
		b.Run(name, func(b *testing.B) {
			var hits int
			defer reportCPU(b, cpuTime())
			for range b.N {
				h, err := s.Search(queries[name], 50)
				if err != nil {
					b.Fatal(err)
				}
				hits = len(h)
			}
			b.ReportMetric(float64(hits), "hits")
		})
	}
	// The baseline: FTS5's own prefix match, which Search avoids for
	// words longer than 3 characters.
	b.Run("common/fts5-prefix-baseline", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for range b.N {
			s.mu.Lock()
			h, err := s.scan("search", `SELECT `+messageColumns+` FROM messages WHERE seq IN (
				SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT 50)`, ftsWord(queries["common"], nil))
			s.mu.Unlock()
			if err != nil || len(h) != 50 {
				b.Fatal(err, len(h))
			}
		}
	})
}
