package bootstrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// A client that reads slowly but steadily is never cut off, however long
// the whole message takes; one that stops reading is cut off a stall
// after it stopped. (The server used to give a whole message one 10 s
// deadline: a 750 KB peer_list needed 75 KB/s.)
func TestFlushConnProgressDeadline(t *testing.T) {
	const stall = time.Second
	msg := bytes.Repeat([]byte("x"), 4*writeChunk)

	t.Run("slow but steady reader", func(t *testing.T) {
		server, client := net.Pipe()
		defer server.Close()
		defer client.Close()
		fc := &flushConn{Conn: server, stall: stall}
		go func() {
			buf := make([]byte, writeChunk)
			for range 4 {
				if _, err := io.ReadFull(client, buf); err != nil {
					return
				}
				time.Sleep(stall / 2) // half a stall per chunk: two stalls in all
			}
		}()
		start := time.Now()
		if _, err := fc.Write(msg); err != nil {
			t.Fatalf("write to a reader that makes progress failed after %v: %v", time.Since(start), err)
		}
	})
	t.Run("reader that stops", func(t *testing.T) {
		server, client := net.Pipe()
		defer server.Close()
		defer client.Close()
		fc := &flushConn{Conn: server, stall: stall}
		go func() {
			buf := make([]byte, writeChunk)
			_, _ = io.ReadFull(client, buf) // one chunk, then nothing
		}()
		_, err := fc.Write(msg)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a reader that stopped: %v, want a timeout", err)
		}
	})
	t.Run("held writes go out together", func(t *testing.T) {
		server, client := net.Pipe()
		defer server.Close()
		defer client.Close()
		fc := &flushConn{Conn: server, stall: stall}
		fc.hold()
		for _, p := range []string{"one", "two", "three"} {
			if _, err := fc.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 64)
			n, _ := client.Read(buf) // a pipe delivers one Write per Read at most
			got <- string(buf[:n])
		}()
		if err := fc.flush(); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "onetwothree" {
			t.Errorf("first read %q, want the three writes at once", s)
		}
	})
}

// writeText sends its parts as one WebSocket text frame, after what is
// held, for each size of length field.
func TestFlushConnWriteText(t *testing.T) {
	tests := []struct {
		name  string
		parts []int // sizes
		hdr   int   // header bytes
	}{
		{"7-bit length", []int{3, 0, 100}, 2},
		{"16-bit length", []int{30, 1000, 2}, 4},
		{"64-bit length, parts split across system calls", []int{30, writeChunk - 10, writeChunk + 7, 2}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer server.Close()
			defer client.Close()
			fc := &flushConn{Conn: server, stall: 5 * time.Second}
			var parts [][]byte
			var want []byte
			for i, n := range tc.parts {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				parts = append(parts, p)
				want = append(want, p...)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(client)
				got <- b
			}()
			fc.hold()
			if _, err := fc.Write([]byte("held")); err != nil {
				t.Fatal(err)
			}
			if err := fc.writeText(parts); err != nil {
				t.Fatal(err)
			}
			if err := fc.flush(); err != nil {
				t.Fatal(err)
			}
			server.Close()
			b := <-got
			if !bytes.HasPrefix(b, []byte("held")) {
				t.Fatalf("held bytes not first: %.10q", b)
			}
			b = b[len("held"):]
			if len(b) != tc.hdr+len(want) || b[0] != 0x81 {
				t.Fatalf("frame of %d bytes, first byte %#x; want %d, 0x81", len(b), b[0], tc.hdr+len(want))
			}
			var n uint64
			switch tc.hdr {
			case 2:
				n = uint64(b[1])
			case 4:
				n = uint64(binary.BigEndian.Uint16(b[2:]))
			case 10:
				n = binary.BigEndian.Uint64(b[2:])
			}
			if n != uint64(len(want)) || !bytes.Equal(b[tc.hdr:], want) {
				t.Errorf("length field %d, payload equal %v; want %d", n, bytes.Equal(b[tc.hdr:], want), len(want))
			}
		})
	}
}
