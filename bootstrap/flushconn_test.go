package bootstrap

import (
	"bytes"
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
