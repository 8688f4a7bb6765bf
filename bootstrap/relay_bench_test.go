package bootstrap

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// relayBenchConfig lifts every relay limit.
func relayBenchConfig() Config {
	cfg := benchConfig()
	cfg.MaxRelays, cfg.MaxRelaysPerClient, cfg.MaxRelaysPerIP = 1<<20, 1<<20, 1<<20
	cfg.RelayRate, cfg.RelayRatePerIP = 1<<40, 1<<40
	return cfg
}

// benchPaths returns, for each path, a TLS connection pair: "direct" over
// loopback TCP, "relay" through the relay of a server on loopback. Both
// run TLS 1.3 with the identities' certificates, as the transport does.
func benchPaths(b *testing.B) map[string][2]*tls.Conn {
	srv := startServer(b, relayBenchConfig())
	a, c, ida, idb := dialedPair(b, srv)
	ra, rb := tlsPair(b, a, c, ida, idb)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	da, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	db := <-accepted
	b.Cleanup(func() { _ = da.Close(); _ = db.Close() })
	ta, tb := tlsPair(b, da, db, ida, idb)

	// Peers on two servers sharing a NATS server (in this process).
	url := startNATS(b)
	_, _, alice, bob, idc, idd, tok := clusterRelayOn(b, connectNATS(b, url, "s1"), connectNATS(b, url, "s2"))
	ca, err := alice.DialRelay(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	cb, err := bob.DialRelay(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
	na, nb := tlsPair(b, ca, cb, idc, idd)
	return map[string][2]*tls.Conn{"direct": {ta, tb}, "relay": {ra, rb}, "relay-2-servers-nats": {na, nb}}
}

// benchPathNames are benchPaths' paths, baseline first.
var benchPathNames = []string{"direct", "relay", "relay-2-servers-nats"}

// BenchmarkRelayThroughput: bytes from one peer to the other over TLS,
// directly, through the relay, and through the relay with the peers on
// two servers (over NATS), in one run. An operation is 64 KiB.
func BenchmarkRelayThroughput(b *testing.B) {
	paths := benchPaths(b)
	for _, name := range benchPathNames {
		b.Run(name, func(b *testing.B) {
			w, r := paths[name][0], paths[name][1]
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			b.SetBytes(int64(len(chunk)))
			var wg sync.WaitGroup
			n := b.N
			b.ResetTimer()
			wg.Go(func() {
				for range n {
					if _, err := w.Write(chunk); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if _, err := io.CopyN(io.Discard, r, int64(n*len(chunk))); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		})
	}
}

// BenchmarkRelayLatency: one 64-byte message there and an answer back,
// over TLS, on the paths of BenchmarkRelayThroughput, in one run; an
// operation is a round trip.
func BenchmarkRelayLatency(b *testing.B) {
	paths := benchPaths(b)
	for _, name := range benchPathNames {
		b.Run(name, func(b *testing.B) {
			x, y := paths[name][0], paths[name][1]
			msg := make([]byte, 64)
			done := make(chan error, 1)
			n := b.N
			go func() {
				buf := make([]byte, 64)
				for range n {
					if _, err := io.ReadFull(y, buf); err != nil {
						done <- err
						return
					}
					if _, err := y.Write(buf); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.ResetTimer()
			start := time.Now()
			for range n {
				if _, err := x.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(x, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/rtt")
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// dialRelayBare opens a relay end by hand on a bare TCP connection (so
// that the client side costs the process little) and reads the 101.
func dialRelayBare(tb testing.TB, addr, token string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = io.WriteString(c, "GET "+wire.RelayPath+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+wire.RelayTokenHeader+": "+token+"\r\n\r\n")
	if err != nil {
		tb.Fatal(err)
	}
	var resp []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		if _, err := c.Read(one); err != nil {
			tb.Fatalf("relay handshake: %v", err)
		}
		resp = append(resp, one[0])
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
		tb.Fatalf("relay handshake: %s", resp)
	}
	return c
}

// BenchmarkRelayMemory: the server's heap and stack per idle spliced
// relay (two sockets), beside two idle registered connections in the
// same run. K (BOOTSTRAP_BENCH_CONNS, default 1000) of each. The bare
// client sockets are in the figures too (a few hundred bytes each).
func BenchmarkRelayMemory(b *testing.B) {
	k := benchConns(b)
	for b.Loop() {
		srv := startServer(b, relayBenchConfig())
		before := memNow()
		conns := make([]net.Conn, 0, 2*k)
		for i := range 2 * k {
			c, _ := dialRaw(b, srv.addr)
			conns = append(conns, c)
			writeFrame(b, c, registerJSON(fmt.Sprintf("p%d", i), false, ""))
		}
		waitFor(b, "all registered", func() bool { return srv.Stats().Peers == 2*k })
		waitFor(b, "writers done", func() bool { return runtime.NumGoroutine() <= 2*k+30 })
		mid := memNow()
		report := func(what string, from, to memSample) {
			b.ReportMetric(float64(to.heap+to.stack-from.heap-from.stack)/float64(k), what+"-B")
		}
		report("2-registered-conns", before, mid)

		ida, idb := proveIdentity(b, srv, "alice"), proveIdentity(b, srv, "bob")
		tokens := make([]string, k)
		for i := range tokens {
			tok, ok := srv.issueRelay(ida.ID().String(), idb.ID().String())
			if !ok {
				b.Fatal("issueRelay refused")
			}
			tokens[i] = tok
		}
		goroutines := runtime.NumGoroutine()
		start := memNow()
		for _, tok := range tokens {
			conns = append(conns, dialRelayBare(b, srv.addr, tok), dialRelayBare(b, srv.addr, tok))
		}
		waitFor(b, "all spliced", func() bool { return srv.Stats().Relays == k })
		end := memNow()
		report("relay", start, end)
		b.ReportMetric(float64(end.heap-start.heap)/float64(k), "relay-heap-B")
		b.ReportMetric(float64(end.stack-start.stack)/float64(k), "relay-stack-B")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(k), "goroutines/relay")
		for _, c := range conns {
			_ = c.Close()
		}
		waitFor(b, "all gone", func() bool { st := srv.Stats(); return st.Relays == 0 && st.Connections <= 2 })
		_ = srv.stop()
	}
}
