package bootstrap

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/identity"
)

// The reader gets every message however its bytes arrive: one at a time
// (the connection goes idle between them, and its reader waits on a
// fresh goroutine), several in one write (gorilla's buffer holds the
// next ones when a message ends), split across writes, inside a frame's
// header or across frames, with pings between them; and over TLS, where
// the reader waits in gorilla's read as before.
func TestReaderGetsEveryMessage(t *testing.T) {
	small := clientFrame(websocket.TextMessage, `{"type":"list_peers"}`)
	big := clientFrame(websocket.TextMessage, `{"type":"list_peers"`+strings.Repeat(" ", 600)+`}`) // > readBufferSize
	ping := clientFrame(websocket.PingMessage, "p")
	cat := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }
	// step is what the client writes, and how many answers (peer_list
	// or pong) it then waits for.
	type step struct {
		write   []byte
		answers int
	}
	// split cuts b at the given offsets: answers come after the last part.
	split := func(answers int, b []byte, at ...int) []step {
		var steps []step
		last := 0
		for _, i := range at {
			steps = append(steps, step{write: b[last:i]})
			last = i
		}
		return append(steps, step{write: b[last:], answers: answers})
	}
	three := cat(small, big, small)
	cases := []struct {
		name  string
		steps []step
	}{
		{"one at a time", []step{{small, 1}, {big, 1}, {small, 1}, {small, 1}}},
		{"together", []step{{cat(small, small, small, small), 4}}}, // all in gorilla's buffer
		{"together with big ones", []step{{cat(small, small, big, small, big), 5}}},
		{"split in the header", split(1, small, 1, 2, 4)},
		{"split in a big payload", split(1, big, 8, 100, 257, 258, 500)},
		{"split across frames", split(3, three, len(small)+3, len(small)+300, len(three)-1)},
		{"pings between", []step{{ping, 1}, {small, 1}, {cat(ping, small, ping), 3}, {cat(small, ping[:3]), 1}, {ping[3:], 1}}},
	}
	servers := map[string]func(t *testing.T) (*testServer, func(net.Conn) net.Conn){
		"tcp": func(t *testing.T) (*testServer, func(net.Conn) net.Conn) {
			return startServer(t, Config{ListBurst: 1000}), func(c net.Conn) net.Conn { return c }
		},
		"tls": func(t *testing.T) (*testServer, func(net.Conn) net.Conn) {
			id, err := identity.Generate()
			if err != nil {
				t.Fatal(err)
			}
			cert, err := id.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
			wrap := func(c net.Conn) net.Conn {
				return tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // the test's own certificate
			}
			return startServerOn(t, Config{ListBurst: 1000}, ln), wrap
		},
	}
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			srv, wrap := servers[network](t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					raw, err := net.Dial("tcp", srv.addr)
					if err != nil {
						t.Fatal(err)
					}
					c := wrap(raw)
					defer c.Close()
					br := upgradeRaw(t, c, srv.addr)
					for i, s := range tc.steps {
						if _, err := c.Write(s.write); err != nil {
							t.Fatal(err)
						}
						if s.answers == 0 {
							// Not a wait for an outcome: a pause, so that
							// the server reads this part on its own.
							time.Sleep(2 * time.Millisecond)
							continue
						}
						_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
						for range s.answers {
							op, p, err := readFrame(br)
							if err != nil {
								t.Fatalf("step %d: %v", i, err)
							}
							if op != websocket.PongMessage && !bytes.Contains(p, []byte(`"peer_list"`)) {
								t.Fatalf("step %d: got opcode %d %q, want a pong or a peer_list", i, op, p)
							}
						}
					}
					_ = c.Close()
					waitFor(t, "the connection dropped", func() bool { return srv.Stats().Connections == 0 })
				})
			}
		})
	}
}
