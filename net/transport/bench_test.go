package transport

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// BenchmarkHandshake measures a TLS dial and handshake (both sides' work;
// the server is on the other core).
func BenchmarkHandshake(b *testing.B) {
	alice := newNode(b, Config{Identity: newID(b), Logger: discard})
	bob := newNode(b, Config{Identity: newID(b), Logger: discard})
	ctx := context.Background()
	want := bob.id.ID().String()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := alice.dial(ctx, bob.addr(), want, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// The message benchmarks send 100-byte messages over loopback:
//
//   - plain: one kept-open plaintext connection;
//   - tls: one kept-open TLS connection;
//   - conn-per-msg: the original's method, a new TCP connection per
//     message (write one line, close).
//
// Each runs under these loads:
//
//   - flood sends b.N messages back to back from one goroutine (Send
//     returns once the line is written): the throughput. Its latencies
//     are those of a saturated link, mostly time queued in socket buffers.
//   - pingpong sends the next message only after the handler got the
//     previous one: the latency of an unloaded link.
//   - rate=N sends N messages a second on a fixed schedule (open loop:
//     latency counts from when a message was due, so a stalled sender
//     does not hide its delay): latency under a steady heavy load.
//
// Latency is one way: from just before Send to the handler's call, on one
// clock.
func BenchmarkMessages(b *testing.B) {
	for _, method := range []string{"plain", "tls", "conn-per-msg"} {
		loads := []benchLoad{{name: "flood"}, {name: "pingpong", pingpong: true}, {name: "rate=10k", rate: 10_000}}
		if method != "conn-per-msg" { // beyond what it can carry
			loads = append(loads, benchLoad{name: "rate=100k", rate: 100_000})
		}
		for _, load := range loads {
			b.Run(method+"/"+load.name, func(b *testing.B) { benchMessages(b, method, load) })
		}
	}
}

type benchLoad struct {
	name     string
	pingpong bool
	rate     int // messages a second; 0: as fast as Send returns
}

const benchContentSize = 100

func benchMessages(b *testing.B, method string, load benchLoad) {
	senderCfg := Config{Logger: discard}
	receiverCfg := Config{Logger: discard}
	switch method {
	case "tls":
		senderCfg.Identity, receiverCfg.Identity = newID(b), newID(b)
	case "conn-per-msg":
		senderCfg.ConnPerMessage = true
		// The original receiver has no limit; do not let ours refuse
		// connections that the sender closed but it has yet to read.
		receiverCfg.MaxInbound = 1 << 14
		receiverCfg.MaxInboundPerIP = 1 << 14
	}
	senderCfg.ListenAddr = "127.0.0.1:0"
	sender, err := Listen(senderCfg) // sends only: Serve is not needed
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	n := b.N
	start := make([]atomic.Int64, n) // ns since base, set before Send
	lat := make([]int64, n)          // ns, set by the handler
	var got atomic.Int64
	done := make(chan struct{})
	arrived := make(chan struct{}, 1)
	base := time.Now()

	receiverCfg.ListenAddr = "127.0.0.1:0"
	receiver, err := Listen(receiverCfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- receiver.Serve(ctx, func(in Inbound) {
			now := time.Since(base).Nanoseconds()
			i, err := strconv.Atoi(in.Message.Content[:10])
			if err != nil || i >= n {
				panic(fmt.Sprintf("bad benchmark message %q", in.Message.Content))
			}
			lat[i] = now - start[i].Load()
			if got.Add(1) == int64(n) {
				close(done)
			}
			if load.pingpong {
				arrived <- struct{}{}
			}
		})
	}()
	defer func() {
		cancel()
		receiver.Close()
		<-served
	}()

	d := Dest{Addr: netip4(receiver.Port())}
	if receiverCfg.Identity != nil {
		d.Identity = receiverCfg.Identity.ID().String()
	}
	m := wire.Message{From: "alice", Timestamp: time.Now().Unix(), ID: wire.NewMessageID()}
	content := []byte(strings.Repeat("x", benchContentSize))
	line, _ := m.AppendLine(nil)
	b.SetBytes(int64(len(line) + benchContentSize))
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Since(base).Nanoseconds()
	for i := range n {
		for k, v := 9, i; k >= 0; k, v = k-1, v/10 { // i in 10 digits
			content[k] = byte('0' + v%10)
		}
		m.Content = string(content) // one allocation, as a UI's string would be
		if load.rate > 0 {
			due := began + int64(i)*int64(time.Second)/int64(load.rate)
			// Spin on this goroutine's P (no Gosched: a yielded spinner
			// is stolen by the idle P, and then no P sleeps in the
			// network poller to wake the receiver promptly).
			for time.Since(base).Nanoseconds() < due {
			}
			start[i].Store(due)
		} else {
			start[i].Store(time.Since(base).Nanoseconds())
		}
		if err := sender.Send(context.Background(), d, m); err != nil {
			b.Fatalf("send %d: %v", i, err)
		}
		if load.pingpong {
			<-arrived
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d messages arrived (receiver stats %+v)", got.Load(), n, receiver.Stats())
	}
	b.StopTimer()

	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[min(n-1, n*99/100)])/1e3, "p99-µs")
	if s := sender.Stats(); method != "conn-per-msg" && s.Dials != 1 {
		b.Fatalf("%d dials for a persistent connection", s.Dials)
	}
}
