package wire

import (
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The original's serde refuses a known field given twice and matches
// names exactly; encoding/json would take the last duplicate and match
// "FROM" as "from". These are the attacks of issue 11, item 9.
func TestParsersRefuseDuplicateAndIgnoreCaseVariantKeys(t *testing.T) {
	msg := []struct {
		name, in string
		want     Message
		wantErr  string
	}{
		{"duplicate from", `{"from":"x","from":"alice","content":"hi","timestamp":1}`, Message{}, `duplicate field "from"`},
		{"duplicate timestamp", `{"from":"a","content":"hi","timestamp":1,"timestamp":2}`, Message{}, `duplicate field "timestamp"`},
		{"duplicate content", `{"from":"a","content":"hi","content":"ho","timestamp":1}`, Message{}, `duplicate field "content"`},
		{"duplicate id", `{"from":"a","content":"hi","timestamp":1,"id":"a","id":"b"}`, Message{}, `duplicate field "id"`},
		{"escaped duplicate", `{"from":"x","\u0066rom":"alice","content":"hi","timestamp":1}`, Message{}, `duplicate field "from"`},
		{"case variant ignored", `{"FROM":"x","from":"alice","content":"hi","timestamp":1}`, Message{From: "alice", Content: "hi", Timestamp: 1}, ""},
		{"case variant after ignored", `{"from":"alice","From":"x","content":"hi","timestamp":1}`, Message{From: "alice", Content: "hi", Timestamp: 1}, ""},
		{"only a case variant", `{"FROM":"alice","content":"hi","timestamp":1}`, Message{}, "message without from"},
		{"unknown duplicates ignored", `{"from":"a","content":"hi","timestamp":1,"x":1,"x":2}`, Message{From: "a", Content: "hi", Timestamp: 1}, ""},
		{"nested from ignored", `{"x":{"from":"b"},"from":"a","content":"hi","timestamp":1}`, Message{From: "a", Content: "hi", Timestamp: 1}, ""},
	}
	for _, tt := range msg {
		t.Run("message/"+tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.in))
			checkParse(t, got, tt.want, err, tt.wantErr)
		})
	}
	dg := []struct {
		name, in string
		want     Datagram
		wantErr  string
	}{
		{"duplicate type", `{"type":"goodbye","type":"announce","nickname":"a","tcp_port":1}`, Datagram{}, `duplicate field "type"`},
		{"duplicate nickname", `{"type":"announce","nickname":"x","nickname":"bob","tcp_port":1}`, Datagram{}, `duplicate field "nickname"`},
		{"duplicate tcp_port", `{"type":"announce","nickname":"a","tcp_port":1,"tcp_port":2}`, Datagram{}, `duplicate field "tcp_port"`},
		{"duplicate identity", `{"type":"announce","nickname":"a","tcp_port":1,"identity":"A","identity":"B"}`, Datagram{}, `duplicate field "identity"`},
		{"case variant ignored", `{"type":"announce","NICKNAME":"x","nickname":"bob","tcp_port":1}`, Datagram{Type: TypeAnnounce, Nickname: "bob", TCPPort: 1}, ""},
		{"case variant type ignored", `{"TYPE":"goodbye","type":"announce","nickname":"bob","tcp_port":1}`, Datagram{Type: TypeAnnounce, Nickname: "bob", TCPPort: 1}, ""},
		{"goodbye ignores a bad tcp_port", `{"type":"goodbye","nickname":"bob","tcp_port":"x"}`, Datagram{Type: TypeGoodbye, Nickname: "bob"}, ""},
	}
	for _, tt := range dg {
		t.Run("datagram/"+tt.name, func(t *testing.T) {
			got, err := ParseDatagram([]byte(tt.in))
			checkParse(t, got, tt.want, err, tt.wantErr)
		})
	}
}

func checkParse[T comparable](t *testing.T, got, want T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q (got %+v)", err, wantErr, got)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSignedDatagram(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	src := netip.MustParseAddr("192.0.2.7")
	base := Datagram{Type: TypeAnnounce, Nickname: "bob", TCPPort: 4242, Instance: "inst", Identity: "BOBID"}
	signed := base
	signed.Sign(priv, src, time.UnixMilli(1_700_000_000_123))

	b, err := signed.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDatagram(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != signed {
		t.Fatalf("round trip: got %+v, want %+v", got, signed)
	}
	if pub, err := got.Verify(src); err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("Verify from the signed source = %v, %v", pub, err)
	}

	alter := map[string]func(d *Datagram){
		"nickname":  func(d *Datagram) { d.Nickname = "mallory" },
		"port":      func(d *Datagram) { d.TCPPort++ },
		"instance":  func(d *Datagram) { d.Instance = "other" },
		"identity":  func(d *Datagram) { d.Identity = "OTHER" },
		"time":      func(d *Datagram) { d.Time++ },
		"type":      func(d *Datagram) { d.Type = TypeGoodbye },
		"signature": func(d *Datagram) { d.Signature = signedBy(t, d, src) },
	}
	for name, f := range alter {
		t.Run("altered "+name, func(t *testing.T) {
			d := got
			f(&d)
			if _, err := d.Verify(src); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
	t.Run("copied to another address", func(t *testing.T) {
		if _, err := got.Verify(netip.MustParseAddr("192.0.2.8")); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify = %v, want ErrBadSignature", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		if _, err := base.Verify(src); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify = %v, want ErrBadSignature", err)
		}
	})

	bad := []struct{ name, in, wantErr string }{
		{"signature without identity", `{"type":"goodbye","nickname":"a","time_ms":1,"public_key":"` + got.PublicKey + `","signature":"` + got.Signature + `"}`, "without identity"},
		{"short key", `{"type":"goodbye","nickname":"a","identity":"X","time_ms":1,"public_key":"AAAA","signature":"` + got.Signature + `"}`, "public_key"},
		{"no signature", `{"type":"goodbye","nickname":"a","identity":"X","time_ms":1,"public_key":"` + got.PublicKey + `"}`, "signature"},
		{"time only", `{"type":"goodbye","nickname":"a","identity":"X","time_ms":1}`, "public_key"},
		{"float time", `{"type":"goodbye","nickname":"a","identity":"X","time_ms":1.5}`, "time_ms"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDatagram([]byte(tt.in))
			checkParse(t, d, Datagram{}, err, tt.wantErr)
		})
	}
}

// signedBy re-signs d with another key but keeps d's public key, as a
// forger without bob's key would.
func signedBy(t *testing.T, d *Datagram, src netip.Addr) string {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 1
	other := ed25519.NewKeyFromSeed(seed)
	c := *d
	c.Sign(other, src, time.UnixMilli(d.Time))
	return c.Signature
}
