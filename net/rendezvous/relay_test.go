package rendezvous

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestDialRelayNotConnected(t *testing.T) {
	c, err := New(Config{URL: "ws://127.0.0.1:1", Self: discovery.Self{Nickname: "alice", TCPPort: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DialRelay(context.Background(), strings.Repeat("A", wire.RelayTokenLen)); !errors.Is(err, ErrNotConnected) {
		t.Errorf("DialRelay without a session: %v, want ErrNotConnected", err)
	}
}

// relayConnTo upgrades one connection on a test server that runs serve
// on it, and returns the client end as a relayConn.
func relayConnTo(t *testing.T, serve func(ws *websocket.Conn)) *relayConn {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer close(done)
			defer ws.Close()
			serve(ws)
		}()
	}))
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(wire.MaxRelayMessage)
	c := newRelayConn(ws)
	t.Cleanup(func() {
		_ = c.Close()
		<-done
		srv.Close()
	})
	return c
}

func TestRelayConnRead(t *testing.T) {
	closeWith := func(code int) func(*websocket.Conn) {
		return func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte("abc"))
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte("defgh"))
			_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""))
			_, _, _ = ws.ReadMessage()
		}
	}
	for _, tc := range []struct {
		name    string
		serve   func(*websocket.Conn)
		want    string
		wantEOF bool
	}{
		{"messages are one stream, then a normal close is EOF", closeWith(websocket.CloseNormalClosure), "abcdefgh", true},
		{"going away is EOF", closeWith(websocket.CloseGoingAway), "abcdefgh", true},
		{"another code is an error", closeWith(websocket.CloseInternalServerErr), "abcdefgh", false},
		{"a text message is an error", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte("ab"))
			_ = ws.WriteMessage(websocket.TextMessage, []byte("hi"))
			_, _, _ = ws.ReadMessage()
		}, "ab", false},
		{"a message over the limit is an error", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.BinaryMessage, make([]byte, wire.MaxRelayMessage+1))
			_, _, _ = ws.ReadMessage()
		}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := relayConnTo(t, tc.serve)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []byte
			buf := make([]byte, 3) // smaller than a message
			var err error
			for err == nil {
				var n int
				n, err = c.Read(buf)
				got = append(got, buf[:n]...)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if (err == io.EOF) != tc.wantEOF {
				t.Errorf("ended with %v, want EOF=%v", err, tc.wantEOF)
			}
			if _, again := c.Read(buf); again == nil {
				t.Error("a read after the end succeeded")
			}
		})
	}
}

func TestRelayConnWriteAndDeadline(t *testing.T) {
	sizes := make(chan int, 8)
	c := relayConnTo(t, func(ws *websocket.Conn) {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				close(sizes)
				return
			}
			sizes <- len(b)
		}
	})
	if n, err := c.Write(make([]byte, wire.MaxRelayWrite+10)); err != nil || n != wire.MaxRelayWrite+10 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if a, b := <-sizes, <-sizes; a != wire.MaxRelayWrite || b != 10 {
		t.Errorf("messages of %d and %d bytes, want %d and 10", a, b, wire.MaxRelayWrite)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v", err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past the deadline: %v", err)
	}
	_ = c.Close()
	for range sizes {
	}
}
