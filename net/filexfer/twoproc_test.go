package filexfer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// receiverEnv makes the test binary the receiving peer of
// BenchmarkChatLatencyTwoProcesses (see TestMain).
const receiverEnv = "FILEXFER_BENCH_RECEIVER"

// BenchmarkChatLatencyTwoProcesses is BenchmarkChatLatency with the
// receiver (its engine, disk writer and chat handler) in a process of its
// own, as two real peers are: the sender offers -xfer.chatmb MB, the
// receiver accepts at once, and chat messages (one every 2 ms, one way,
// timed on the shared wall clock) flow during the transfer and then idle.
func BenchmarkChatLatencyTwoProcesses(b *testing.B) {
	n := newNetwork()
	alice := newPeer(b, n, Config{})
	path, _ := writeFile(b, "bench.bin", *chatMB<<20)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), receiverEnv+"=1")
	if *benchDir != "" {
		cmd.Env = append(cmd.Env, "FILEXFER_BENCH_DIR="+*benchDir)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	fmt.Fprintf(stdin, "%s %d\n", alice.ID(), alice.tr.Port())
	out := bufio.NewScanner(stdout)
	var bobID string
	var bobPort uint16
	if !out.Scan() {
		b.Fatal("the receiver process said nothing")
	}
	if _, err := fmt.Sscan(out.Text(), &bobID, &bobPort); err != nil {
		b.Fatalf("receiver said %q: %v", out.Text(), err)
	}
	n.set(bobID, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), bobPort))
	dest := n.dest(bobID)

	chat := func(phase string, stop <-chan struct{}, count int) (sent int) {
		m := wire.Message{From: "alice", Content: phase, ID: wire.NewMessageID()}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for count == 0 || sent < count {
			select {
			case <-stop:
				return sent
			case <-tick.C:
			}
			m.Timestamp = time.Now().UnixNano()
			if err := alice.tr.Send(context.Background(), dest, m); err != nil {
				b.Error(err)
				return sent
			}
			sent++
		}
		return sent
	}
	var rates []float64
	for b.Loop() {
		tr, err := alice.engine().Offer(context.Background(), bobID, path)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		stop := make(chan struct{})
		var sent int
		var wg sync.WaitGroup
		wg.Go(func() { sent = chat("busy", stop, 0) })
		alice.await(EventDone, tr.ID)
		rates = append(rates, float64(*chatMB<<20)/time.Since(t0).Seconds()/1e6)
		close(stop)
		wg.Wait()
		chat("idle", nil, sent)
	}
	stdin.Close() // the receiver reports and exits
	for out.Scan() {
		var phase string
		var count, p50, p99, max float64
		if _, err := fmt.Sscan(out.Text(), &phase, &count, &p50, &p99, &max); err != nil {
			b.Fatalf("receiver said %q: %v", out.Text(), err)
		}
		b.ReportMetric(p50, phase+"-p50-ms")
		b.ReportMetric(p99, phase+"-p99-ms")
		b.ReportMetric(max, phase+"-max-ms")
		if phase == "busy" {
			b.ReportMetric(count, "msgs")
		}
	}
	b.ReportMetric(median(rates), "xfer-MB/s")
}

// runBenchReceiver is the receiving peer: it reads the sender's ID and
// port, prints its own, accepts every offer, records chat latencies per
// phase (the message text), and when its input ends prints
// "phase count p50 p99 max" (ms) per phase.
func runBenchReceiver() int {
	in := bufio.NewScanner(os.Stdin)
	var senderID string
	var senderPort uint16
	if !in.Scan() {
		return 1
	}
	if _, err := fmt.Sscan(in.Text(), &senderID, &senderPort); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	id, err := identity.Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	tr, err := transport.Listen(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	defer tr.Close()
	dir, err := os.MkdirTemp(os.Getenv("FILEXFER_BENCH_DIR"), "xfer-recv")
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sender := transport.Dest{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), senderPort), Identity: senderID}
	eng, err := New(Config{
		DownloadDir: dir,
		Dial: func(ctx context.Context, peer string) (io.ReadWriteCloser, error) {
			return tr.OpenStream(ctx, sender, ALPN)
		},
		AutoAccept: func(Transfer) bool { return true },
		OnEvent: func(ev Event) {
			if ev.Kind == EventDone {
				os.Remove(ev.Transfer.Path)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	defer eng.Close()
	if err := tr.HandleStream(ALPN, func(ctx context.Context, s *transport.Stream) { eng.ServeConn(ctx, s.Peer(), s) }); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		return 1
	}
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		tr.Serve(ctx, func(m transport.Inbound) {
			d := time.Duration(time.Now().UnixNano() - m.Message.Timestamp)
			mu.Lock()
			lat[m.Message.Content] = append(lat[m.Message.Content], d)
			mu.Unlock()
		})
	}()
	fmt.Printf("%s %d\n", id.ID(), tr.Port())
	for in.Scan() {
	}
	cancel()
	<-served
	mu.Lock()
	defer mu.Unlock()
	for _, phase := range []string{"busy", "idle"} {
		d := lat[phase]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		ms := func(p int) float64 { return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000 }
		fmt.Printf("%s %d %.3f %.3f %.3f\n", phase, len(d), ms(50), ms(99), ms(100))
	}
	return 0
}
