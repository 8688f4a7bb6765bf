package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
)

// TestPlaintextInbound plays an original peer writing lines to us.
func TestPlaintextInbound(t *testing.T) {
	const hi = `{"from":"bob","content":"hi","timestamp":1699123456}`
	cases := []struct {
		name    string
		write   string
		want    []string // contents, in order
		dropped uint64
	}{
		{"original line", hi + "\n", []string{"hi"}, 0},
		{"several lines on one connection",
			hi + "\n" + `{"from":"bob","content":"two","timestamp":2}` + "\n" + `{"from":"bob","content":"three","timestamp":3}` + "\n",
			[]string{"hi", "two", "three"}, 0},
		{"CRLF", hi + "\r\n" + `{"from":"bob","content":"crlf","timestamp":2}` + "\r\n", []string{"hi", "crlf"}, 0},
		{"last line without newline", hi + "\n" + `{"from":"bob","content":"last","timestamp":2}`, []string{"hi", "last"}, 0},
		{"extra fields", `{"from":"bob","content":"x","timestamp":1,"color":"red","id":"abc"}` + "\n", []string{"x"}, 0},
		{"blank lines skipped", hi + "\n\n\r\n" + hi + "\n", []string{"hi", "hi"}, 0},
		{"bad lines dropped, later lines still arrive",
			`{not json` + "\n" +
				`{"from":"bob","content":"float","timestamp":1.5}` + "\n" +
				`{"from":"bob","content":"no time"}` + "\n" +
				`{"from":"","content":"no nick","timestamp":1}` + "\n" +
				`{"from":"bob","content":"ok","timestamp":1}` + "\n",
			[]string{"ok"}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bob := newNode(t, Config{Identity: newID(t)})
			c := dialRaw(t, bob.addr())
			if _, err := c.Write([]byte(tc.write)); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite() // EOF, as the original sender's close
			waitClosed(t, c, waitFor)
			for _, want := range tc.want {
				in := bob.recv(t)
				if in.Message.Content != want || in.Message.From != "bob" {
					t.Fatalf("got %+v, want %q", in.Message, want)
				}
				if in.Identity != "" {
					t.Fatalf("plaintext message with Identity %q", in.Identity)
				}
				if in.Remote != addrPortOf(c.LocalAddr()) {
					t.Fatalf("Remote = %v, want %v", in.Remote, c.LocalAddr())
				}
			}
			if len(bob.got) != 0 {
				t.Fatalf("%d more messages than expected", len(bob.got))
			}
			if s := bob.Stats(); s.Dropped != tc.dropped || s.PlainConns != 1 {
				t.Fatalf("stats %+v, want %d dropped, 1 plaintext connection", s, tc.dropped)
			}
		})
	}
}

// originalLine is the message line as the original understands it.
type originalLine struct {
	From      string `json:"from"`
	Content   string `json:"content"`
	Timestamp int64  `json:"timestamp"`
}

// TestPlaintextOutbound: to a Dest without identity we write lines an
// original receiver (here a plain listener) reads.
func TestPlaintextOutbound(t *testing.T) {
	for _, withID := range []bool{true, false} {
		name := "plaintext-only node"
		if withID {
			name = "node with identity"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{}
			if withID {
				cfg.Identity = newID(t)
			}
			alice := newNode(t, cfg)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			d := Dest{Addr: addrPortOf(ln.Addr())}
			texts := []string{"hello", "with \"quotes\" and <html> & ünïcödé", "third"}
			for _, text := range texts {
				m := msg("alice", text)
				m.Timestamp = 1699123456
				if err := alice.Send(context.Background(), d, m); err != nil {
					t.Fatal(err)
				}
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for _, text := range texts {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(line, "{") || strings.Count(line, "\n") != 1 {
					t.Fatalf("line %q is not one JSON object and a newline", line)
				}
				var got originalLine
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("original fields do not parse from %q: %v", line, err)
				}
				if got != (originalLine{"alice", text, 1699123456}) {
					t.Fatalf("got %+v from %q", got, line)
				}
			}
			if s := alice.Stats(); s.Dials != 1 {
				t.Fatalf("%d dials for 3 messages, want 1", s.Dials)
			}
		})
	}
}

func TestRequireEncryption(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t), RequireEncryption: true})

	t.Run("send", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		err = bob.Send(context.Background(), Dest{Addr: addrPortOf(ln.Addr())}, msg("bob", "secret"))
		if !errors.Is(err, ErrPlaintextRefused) {
			t.Fatalf("err = %v, want ErrPlaintextRefused", err)
		}
		if s := bob.Stats(); s.Dials != 0 || s.DialErrors != 0 || s.PlainRefused != 1 {
			t.Fatalf("stats %+v: a refused plaintext send must not dial", s)
		}
	})
	t.Run("receive", func(t *testing.T) {
		c := dialRaw(t, bob.addr())
		c.Write([]byte(`{"from":"eve","content":"let me in","timestamp":1}` + "\n"))
		if got := waitClosed(t, c, waitFor); len(got) != 0 {
			t.Fatalf("server wrote %q", got)
		}
		bob.none(t)
		if s := bob.Stats(); s.PlainRejected != 1 || s.PlainConns != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("encrypted still works", func(t *testing.T) {
		alice := newNode(t, Config{Identity: newID(t), RequireEncryption: true})
		if err := alice.Send(context.Background(), bob.dest(), msg("alice", "fine")); err != nil {
			t.Fatal(err)
		}
		if in := bob.recv(t); in.Message.Content != "fine" {
			t.Fatalf("got %+v", in)
		}
	})
	t.Run("needs an identity", func(t *testing.T) {
		if tr, err := Listen(Config{ListenAddr: "127.0.0.1:0", RequireEncryption: true}); err == nil {
			tr.Close()
			t.Fatal("Listen accepted RequireEncryption without an identity")
		}
	})
}

// TestPlaintextOnlyNode: without an identity a node never sends plaintext
// to a keyed peer, and refuses TLS.
func TestPlaintextOnlyNode(t *testing.T) {
	plain := newNode(t, Config{})
	bob := newNode(t, Config{Identity: newID(t)})
	if err := plain.Send(context.Background(), bob.dest(), msg("plain", "x")); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("err = %v, want ErrNoIdentity", err)
	}
	if s := bob.Stats(); s.Accepted != 0 {
		t.Fatalf("bob accepted %d connections", s.Accepted)
	}
	err := bob.Send(context.Background(), Dest{Addr: plain.addr(), Identity: newID(t).ID().String()}, msg("bob", "x"))
	if err == nil {
		t.Fatal("TLS to a plaintext-only node succeeded")
	}
	eventually(t, "the plaintext node refuses TLS", func() bool { return plain.Stats().PlainRejected == 1 })
	plain.none(t)
}

func TestDefaultListenAddr(t *testing.T) {
	tr, err := Listen(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Port() == 0 {
		t.Fatal("Port() = 0")
	}
	if a := tr.ln.Addr().(*net.TCPAddr); !a.IP.IsUnspecified() {
		t.Fatalf("listening on %v, want all addresses", a)
	}
}
