package bootstrap

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMailStoreMemory reports the heap one stored item costs the
// server (in memory, no --mailbox-dir) beside its sealed bytes: the
// baseline is the ciphertext itself. 10,000 items of 600 sealed bytes (a
// short message: a 100-byte text sealed is 527 bytes), 100
// recipients.
func BenchmarkMailStoreMemory(b *testing.B) {
	const items, size = 10_000, 600
	sealed := make([]byte, size)
	_, _ = rand.Read(sealed)
	now := time.Now()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, err := OpenMailStore(MailConfig{MaxPerRecipient: items, MaxPerSender: items, MaxBytesPerSender: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		for i := range items {
			if err := m.Put("sender", fmt.Sprintf("recipient-%03d", i%100), fmt.Sprintf("%032x", i), sealed, now); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/items, "heap-B/item")
		b.ReportMetric(size, "sealed-B/item")
		runtime.KeepAlive(m)
	}
}

// BenchmarkMailStorePut times a put beside a fetch and ack of the same
// item (in memory).
func BenchmarkMailStorePut(b *testing.B) {
	sealed := make([]byte, 600)
	now := time.Now()
	m, err := OpenMailStore(MailConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Put("a", "b", "id", sealed, now); err != nil {
			b.Fatal(err)
		}
		m.Fetch("b", 1, 1<<20, now)
		m.Ack("b", []string{"id"})
	}
}
