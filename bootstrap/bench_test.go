package bootstrap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// The benchmarks talk to the server through bare sockets that speak just
// enough WebSocket by hand: an idle client then costs the benchmark
// process only its socket (no goroutine, no buffers), so the memory
// measured is the server's.

// benchConns is the number of clients, BOOTSTRAP_BENCH_CONNS or 1000.
// Each costs two file descriptors in this process.
func benchConns(b *testing.B) int {
	if s := os.Getenv("BOOTSTRAP_BENCH_CONNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("BOOTSTRAP_BENCH_CONNS=%q", s)
		}
		return n
	}
	return 1000
}

func benchConfig() Config {
	return Config{MaxConnsPerIP: 1 << 20, MaxConns: 1 << 20, MaxPeers: 1 << 20, ListBurst: 1 << 20}
}

// dialRaw opens a WebSocket connection by hand.
func dialRaw(tb testing.TB, addr string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return c, upgradeRaw(tb, c, addr)
}

// upgradeRaw makes c, a connection to host, a WebSocket connection, and
// returns the reader of its input.
func upgradeRaw(tb testing.TB, c net.Conn, host string) *bufio.Reader {
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 512)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatalf("handshake: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	return br
}

// writeFrame sends payload as one masked text frame (see clientFrame).
func writeFrame(tb testing.TB, c net.Conn, payload string) {
	if _, err := c.Write(clientFrame(websocket.TextMessage, payload)); err != nil {
		tb.Fatal(err)
	}
}

// clientFrame is payload as one final masked frame of the given opcode
// (mask key zero, so the payload goes as is).
func clientFrame(opcode byte, payload string) []byte {
	var hdr []byte
	switch n := len(payload); {
	case n < 126:
		hdr = []byte{0x80 | opcode, 0x80 | byte(n)}
	default:
		hdr = []byte{0x80 | opcode, 0x80 | 126, byte(n >> 8), byte(n)}
	}
	hdr = append(hdr, 0, 0, 0, 0)
	return append(hdr, payload...)
}

// readFrame reads one unmasked server frame.
func readFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}

// registerJSON is a register; with push it asks for pushes and, if room
// is not empty, joins that room.
func registerJSON(nick string, push bool, room string) string {
	if !push {
		return `{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000"}`
	}
	r := ""
	if room != "" {
		r = `,"room":"` + room + `"`
	}
	return `{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000","features":["push"]` + r + `}`
}

// BenchmarkJoinPropagation: K clients that asked for pushes sit in one
// room; each operation is one more client joining, timed until all K have
// its peer_joined. (Its departure, and the K peer_left, are not timed.)
func BenchmarkJoinPropagation(b *testing.B) {
	k := benchConns(b)
	srv := startServer(b, benchConfig())
	var joined, left sync.WaitGroup
	var mu sync.Mutex
	var arrivals []time.Duration
	var sentAt time.Time
	var readers sync.WaitGroup
	var finishing atomic.Bool // the clients are being closed: ignore peer_left
	conns := make([]net.Conn, 0, k)
	for i := range k {
		c, br := dialRaw(b, srv.addr)
		conns = append(conns, c)
		writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), true, ""))
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				op, p, err := readFrame(br)
				if err != nil {
					return
				}
				switch {
				case op == 0x9: // ping: not answered, the benchmark is short
				case bytes.HasPrefix(p, []byte(`{"type":"peer_joined","peer":{"peer_id":"`)) && bytes.Contains(p, []byte(`"nickname":"joiner"`)):
					mu.Lock()
					arrivals = append(arrivals, time.Since(sentAt))
					mu.Unlock()
					joined.Done()
				case bytes.HasPrefix(p, []byte(`{"type":"peer_left"`)) && !finishing.Load():
					left.Done()
				}
			}
		}()
	}
	// Wait until everyone is registered, and has had its pushes about
	// the others.
	waitFor(b, "all registered", func() bool { return srv.Stats().Peers == k })

	var p50, last []time.Duration
	b.ResetTimer()
	for b.Loop() {
		arrivals = arrivals[:0]
		joined.Add(k)
		left.Add(k)
		c, _ := dialRaw(b, srv.addr)
		sentAt = time.Now()
		writeFrame(b, c, registerJSON("joiner", true, ""))
		joined.Wait()
		b.StopTimer()
		mu.Lock()
		slices.Sort(arrivals)
		p50 = append(p50, arrivals[len(arrivals)/2])
		last = append(last, arrivals[len(arrivals)-1])
		mu.Unlock()
		_ = c.Close()
		left.Wait()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(median(p50).Microseconds()), "µs-median-receiver")
	b.ReportMetric(float64(median(last).Microseconds()), "µs-last-receiver")
	b.ReportMetric(float64(k), "receivers")
	finishing.Store(true)
	for _, c := range conns {
		_ = c.Close()
	}
	readers.Wait()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkIdleConnMemory opens K connections that register and then stay
// idle, and reports what the server holds for each: live heap and
// goroutine stacks, after a GC, divided by K. Half are original clients
// in the default room, half push clients in rooms of ten (the clients do
// not read, so a big pushed room would fill their sockets). The client
// sockets of this process are included (a few hundred bytes each). Run it
// with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	k := benchConns(b)
	for b.Loop() {
		srv := startServer(b, benchConfig())
		before := memNow()
		conns := make([]net.Conn, 0, k)
		for i := range k {
			c, _ := dialRaw(b, srv.addr)
			conns = append(conns, c)
			writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), i%2 == 0, fmt.Sprintf("room%d", i/20)))
		}
		waitFor(b, "all registered", func() bool { return srv.Stats().Peers == k })
		// Let the writer goroutines (which end when their queue is
		// empty) finish.
		waitFor(b, "writers done", func() bool { return runtime.NumGoroutine() <= k+20 })
		after := memNow()
		b.ReportMetric(float64(after.heap-before.heap)/float64(k), "heap-B/conn")
		b.ReportMetric(float64(after.stack-before.stack)/float64(k), "stack-B/conn")
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(k), "total-B/conn")
		b.ReportMetric(float64(runtime.NumGoroutine())/float64(k), "goroutines/conn")
		for _, c := range conns {
			_ = c.Close()
		}
		waitFor(b, "all gone", func() bool { return srv.Stats().Connections == 0 })
		_ = srv.stop()
	}
}

// BenchmarkIdleHeartbeat: K idle registered connections each send one
// heartbeat per operation, spread over a second (so that each
// connection is idle before it), and the process's CPU time (server and
// clients) per heartbeat is reported.
func BenchmarkIdleHeartbeat(b *testing.B) {
	k := benchConns(b)
	srv := startServer(b, benchConfig())
	conns := make([]net.Conn, 0, k)
	for i := range k {
		c, _ := dialRaw(b, srv.addr)
		conns = append(conns, c)
		writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), false, ""))
	}
	waitFor(b, "all registered", func() bool { return srv.Stats().Peers == k })
	hb := clientFrame(websocket.TextMessage, `{"type":"heartbeat"}`)
	gap := time.Second / time.Duration(k)
	cpu0 := processCPU(b)
	n := 0
	for b.Loop() {
		next := time.Now()
		for _, c := range conns {
			if _, err := c.Write(hb); err != nil {
				b.Fatal(err)
			}
			n++
			next = next.Add(gap)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(n), "cpu-us/heartbeat")
	for _, c := range conns {
		_ = c.Close()
	}
	waitFor(b, "all gone", func() bool { return srv.Stats().Connections == 0 })
}

type memSample struct{ heap, stack int64 }

func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{heap: int64(m.HeapAlloc), stack: int64(m.StackInuse)}
}

// BenchmarkPollBigRoom: K original clients in one room poll list_peers
// (each operation is one round: every client asks once, and gets its
// K-entry list), while a probe client in another room measures how long
// its own small list_peers takes meanwhile, i.e. how long the server
// holds its lock. The payloads are read and thrown away.
func BenchmarkPollBigRoom(b *testing.B) {
	k := benchConns(b)
	srv := startServer(b, benchConfig())
	conns := make([]net.Conn, 0, k)
	var got sync.WaitGroup
	var readers sync.WaitGroup
	var listBytes atomic.Int64
	for i := range k {
		c, br := dialRaw(b, srv.addr)
		conns = append(conns, c)
		writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), false, ""))
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				n, list, err := skipFrame(br)
				if err != nil {
					return
				}
				if list {
					listBytes.Store(n)
					got.Done()
				}
			}
		}()
	}
	waitFor(b, "all registered", func() bool { return srv.Stats().Peers == k })

	probe, pbr := dialRaw(b, srv.addr)
	writeFrame(b, probe, registerJSON("probe", true, "probe-room"))
	for range 2 { // registered, peer_list
		if _, _, err := readFrame(pbr); err != nil {
			b.Fatal(err)
		}
	}
	stop := make(chan struct{})
	probeDone := make(chan []time.Duration)
	go func() {
		var lat []time.Duration
		for {
			select {
			case <-stop:
				probeDone <- lat
				return
			default:
			}
			start := time.Now()
			writeFrame(b, probe, `{"type":"list_peers"}`)
			if _, _, err := readFrame(pbr); err != nil {
				probeDone <- lat
				return
			}
			lat = append(lat, time.Since(start))
		}
	}()

	b.ResetTimer()
	for b.Loop() {
		got.Add(k)
		for _, c := range conns {
			writeFrame(b, c, `{"type":"list_peers"}`)
		}
		got.Wait()
	}
	b.StopTimer()
	close(stop)
	lat := <-probeDone
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-probe-p50")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "µs-probe-p99")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "µs-probe-max")
	}
	b.ReportMetric(float64(listBytes.Load()), "list-bytes")
	b.ReportMetric(float64(k), "clients")
	_ = probe.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	readers.Wait()
}

// skipFrame reads one server frame and discards its payload; it reports
// the payload size and whether it was (the start of) a peer_list.
func skipFrame(br *bufio.Reader) (int64, bool, error) {
	n, _, list, err := skipFrameOp(br)
	return n, list, err
}

// skipFrameOp is skipFrame, and reports the frame's opcode too (0 for
// the continuation of a message sent in several frames).
func skipFrameOp(br *bufio.Reader) (int64, byte, bool, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, 0, false, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, 0, false, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, 0, false, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	prefix := []byte(`{"type":"peer_list"`)
	head := make([]byte, min(int(n), len(prefix)))
	if _, err := io.ReadFull(br, head); err != nil {
		return 0, 0, false, err
	}
	if err := discard(br, int64(n)-int64(len(head))); err != nil {
		return 0, 0, false, err
	}
	return int64(n), h[0] & 0x0f, h[0]&0x0f == 0x1 && bytes.Equal(head, prefix), nil
}

// discardBufs holds the buffers of discard: reads of up to 64 KB, so
// that a client skipping a big list costs few system calls (io.Discard
// reads 8 KB at a time).
var discardBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// discard reads and drops n bytes of br.
func discard(br *bufio.Reader, n int64) error {
	buf := discardBufs.Get().(*[64 << 10]byte)
	defer discardBufs.Put(buf)
	for n > 0 {
		m, err := br.Read(buf[:min(n, int64(len(buf)))])
		n -= int64(m)
		if err != nil && n > 0 {
			return err
		}
	}
	return nil
}

// BenchmarkMassJoin: K push clients register in one room as fast as they
// can; each operation is the whole burst, timed until every client has
// its first peer_list. Each joiner's list holds everyone before it, so
// encoding one list per joiner costs O(K²); lists built while joins keep
// coming are shared instead. The clients read and discard everything.
func BenchmarkMassJoin(b *testing.B) {
	k := benchConns(b)
	var lists, ended, dropped atomic.Int64
	for b.Loop() {
		b.StopTimer()
		srv := startServer(b, benchConfig())
		lists.Store(0)
		ended.Store(0)
		var readers sync.WaitGroup
		conns := make([]net.Conn, 0, k)
		brs := make([]*bufio.Reader, 0, k)
		for range k {
			c, br := dialRaw(b, srv.addr)
			conns = append(conns, c)
			brs = append(brs, br)
		}
		b.StartTimer()
		for i, c := range conns {
			readers.Add(1)
			go func() {
				defer readers.Done()
				listed := false
				for {
					_, list, err := skipFrame(brs[i])
					if err != nil {
						if !listed {
							ended.Add(1) // dropped before its list
						}
						return
					}
					if list && !listed {
						listed = true
						lists.Add(1)
					}
				}
			}()
			writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), true, "big"))
		}
		waitFor(b, "every list", func() bool { return lists.Load()+ended.Load() == int64(k) })
		b.StopTimer()
		// Clients dropped after their list count too.
		dropped.Add(int64(k - srv.Stats().Connections))
		for _, c := range conns {
			_ = c.Close()
		}
		readers.Wait()
		_ = srv.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(dropped.Load())/float64(b.N), "dropped/op")
	b.ReportMetric(float64(k), "clients")
}

// BenchmarkPeerListDeflate measures what permessage-deflate (gorilla's:
// flate level 1, no context takeover) would save on a big room's
// peer_list, and what it costs: gorilla compresses per connection, so
// every client that gets the list pays the compression again.
func BenchmarkPeerListDeflate(b *testing.B) {
	for _, n := range []int{2_000, 5_000, 19_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			peers := make([]wire.PeerInfo, n)
			for i := range peers {
				peers[i] = wire.PeerInfo{PeerID: newPeerID(), Nickname: fmt.Sprintf("user%d", i),
					PublicAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), uint16(40000+i%20000)),
					LocalAddr:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), uint16(40000+i%20000)),
					LastSeen:   1_764_000_000 + int64(i%10)}
			}
			msg, err := wire.MarshalServer(wire.PeerList{Peers: peers})
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			w, _ := flate.NewWriter(&out, flate.BestSpeed)
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for range b.N {
				out.Reset()
				w.Reset(&out)
				_, _ = w.Write(msg)
				_ = w.Flush()
			}
			b.ReportMetric(float64(len(msg)), "list-bytes")
			b.ReportMetric(float64(out.Len()), "deflated-bytes")
			b.ReportMetric(float64(len(msg))/float64(out.Len()), "ratio")
		})
	}
}

// BenchmarkRoomBuild registers BOOTSTRAP_BENCH_CONNS push clients in one
// room one after another, each once the one before it has its
// registered reply, as parlance-bench's room build does; every member
// reads and discards. Sub-benchmarks: members that take peers_joined,
// and members that take one peer_joined per join.
//
// The clients send no heartbeats, so the peer timeout is an hour: a
// build longer than the default 30 s would otherwise lose its first
// members and measure their departures. The clients share the process
// (and the CPU) with the server: they only read frame headers and
// discard the rest in 64 KB reads. It reports the bytes they got
// (MB-lists: each newcomer's peer_list; MB-pushes: the rest) and the
// process's CPU time over the build (server and clients together), and
// the clients the server dropped during the build.
func BenchmarkRoomBuild(b *testing.B) {
	k := benchConns(b)
	for _, batch := range []bool{true, false} {
		b.Run(fmt.Sprintf("peers_joined=%v", batch), func(b *testing.B) {
			features := `["push"]`
			if batch {
				features = `["push","peers_joined"]`
			}
			var listBytes, pushBytes atomic.Int64
			var cpu time.Duration
			lost := 0
			for b.Loop() {
				b.StopTimer()
				cfg := benchConfig()
				cfg.PeerTimeout = time.Hour
				srv := startServer(b, cfg)
				var readers sync.WaitGroup
				conns := make([]net.Conn, 0, k)
				cpu0 := processCPU(b)
				b.StartTimer()
				for i := range k {
					c, br := dialRaw(b, srv.addr)
					conns = append(conns, c)
					first := make(chan struct{})
					readers.Add(1)
					go func() {
						defer readers.Done()
						list := false
						for n := 0; ; n++ {
							size, op, start, err := skipFrameOp(br)
							if err != nil {
								return
							}
							if op != 0 { // not a continuation
								list = start
							}
							if list {
								listBytes.Add(size)
							} else {
								pushBytes.Add(size)
							}
							if n == 0 {
								close(first)
							}
						}
					}()
					writeFrame(b, c, `{"type":"register","nickname":"m`+strconv.Itoa(i)+`","local_addr":"0.0.0.0:4000","features":`+features+`,"room":"big"}`)
					<-first
				}
				b.StopTimer()
				cpu += processCPU(b) - cpu0
				lost += k - srv.Stats().Connections
				for _, c := range conns {
					_ = c.Close()
				}
				readers.Wait()
				_ = srv.stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(k), "clients")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(lost)/float64(b.N), "dropped/op")
			b.ReportMetric(float64(listBytes.Load())/1e6/float64(b.N), "MB-lists/op")
			b.ReportMetric(float64(pushBytes.Load())/1e6/float64(b.N), "MB-pushes/op")
		})
	}
}

// processCPU returns the CPU time (user and system) of this process so
// far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
