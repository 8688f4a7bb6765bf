package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)

// The original's messages must encode byte for byte as the original does.
func TestMarshalOriginalShapes(t *testing.T) {
	client := []struct {
		name string
		m    ClientMessage
		want string
	}{
		{"register", Register{Nickname: "alice", LocalAddr: netip.MustParseAddrPort("0.0.0.0:54321")},
			`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`},
		{"list_peers", ListPeers{}, `{"type":"list_peers"}`},
		{"heartbeat", Heartbeat{}, `{"type":"heartbeat"}`},
		{"unregister", Unregister{}, `{"type":"unregister"}`},
	}
	for _, tc := range client {
		t.Run(tc.name, func(t *testing.T) {
			b, err := MarshalClient(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
	peer := PeerInfo{PeerID: "3f1c2b9e-8f6a-4c1d-9b2e-5a7d8c9e0f12", Nickname: "bob",
		PublicAddr: netip.MustParseAddrPort("203.0.113.7:4000"), LocalAddr: netip.MustParseAddrPort("0.0.0.0:4000"), LastSeen: 1699123456}
	server := []struct {
		name string
		m    ServerMessage
		want string
	}{
		{"registered", Registered{PeerID: peer.PeerID, PublicAddr: peer.PublicAddr},
			`{"type":"registered","peer_id":"3f1c2b9e-8f6a-4c1d-9b2e-5a7d8c9e0f12","public_addr":"203.0.113.7:4000"}`},
		{"peer_list", PeerList{Peers: []PeerInfo{peer}},
			`{"type":"peer_list","peers":[{"peer_id":"3f1c2b9e-8f6a-4c1d-9b2e-5a7d8c9e0f12","nickname":"bob","public_addr":"203.0.113.7:4000","local_addr":"0.0.0.0:4000","last_seen":1699123456}]}`},
		{"empty peer_list", PeerList{}, `{"type":"peer_list","peers":[]}`},
		{"error", Error{Message: "Not registered"}, `{"type":"error","message":"Not registered"}`},
	}
	for _, tc := range server {
		t.Run(tc.name, func(t *testing.T) {
			b, err := MarshalServer(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestMarshalExtensionShapes(t *testing.T) {
	tests := []struct {
		name string
		enc  func() ([]byte, error)
		want string
	}{
		{"register", func() ([]byte, error) {
			return MarshalClient(Register{Nickname: "alice", LocalAddr: netip.MustParseAddrPort("192.168.1.5:54321"),
				Features: []string{FeaturePush}, Room: "friends", Identity: "ABC", PublicKey: testKey})
		}, `{"type":"register","nickname":"alice","local_addr":"192.168.1.5:54321","features":["push"],"room":"friends","identity":"ABC","public_key":"6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="}`},
		{"auth", func() ([]byte, error) { return MarshalClient(Auth{Signature: make([]byte, 64), URL: "ws://h:80/"}) },
			`{"type":"auth","signature":"` + strings.Repeat("A", 86) + `==","url":"ws://h:80/"}`},
		{"registered", func() ([]byte, error) {
			return MarshalServer(Registered{PeerID: "p1", PublicAddr: netip.MustParseAddrPort("127.0.0.1:5"), Features: []string{"push"}})
		}, `{"type":"registered","peer_id":"p1","public_addr":"127.0.0.1:5","features":["push"]}`},
		{"peer_joined", func() ([]byte, error) {
			return MarshalServer(PeerJoined{Peer: PeerInfo{PeerID: "p2", Nickname: "bob", PublicAddr: netip.MustParseAddrPort("127.0.0.1:6"),
				LocalAddr: netip.MustParseAddrPort("0.0.0.0:6"), LastSeen: 5, Identity: "XYZ"}})
		}, `{"type":"peer_joined","peer":{"peer_id":"p2","nickname":"bob","public_addr":"127.0.0.1:6","local_addr":"0.0.0.0:6","last_seen":5,"identity":"XYZ"}}`},
		{"peers_joined", func() ([]byte, error) {
			return MarshalServer(PeersJoined{Peers: []PeerInfo{{PeerID: "p2", Nickname: "bob", PublicAddr: netip.MustParseAddrPort("127.0.0.1:6"),
				LocalAddr: netip.MustParseAddrPort("0.0.0.0:6"), LastSeen: 5}, {PeerID: "p3", Nickname: "carol", PublicAddr: netip.MustParseAddrPort("127.0.0.1:7"),
				LocalAddr: netip.MustParseAddrPort("0.0.0.0:7"), LastSeen: 6}}})
		}, PeersJoinedHead + `{"peer_id":"p2","nickname":"bob","public_addr":"127.0.0.1:6","local_addr":"0.0.0.0:6","last_seen":5},` +
			`{"peer_id":"p3","nickname":"carol","public_addr":"127.0.0.1:7","local_addr":"0.0.0.0:7","last_seen":6}` + PeerListTail},
		{"peer_left", func() ([]byte, error) { return MarshalServer(PeerLeft{PeerID: "p2"}) },
			`{"type":"peer_left","peer_id":"p2"}`},
		{"challenge", func() ([]byte, error) { return MarshalServer(Challenge{Nonce: make([]byte, 32)}) },
			`{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.enc()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestParseClientMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ClientMessage
		wantErr string
	}{
		{"original register", `{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`,
			Register{Nickname: "alice", LocalAddr: netip.MustParseAddrPort("0.0.0.0:54321")}, ""},
		{"register with unknown field", `{"type":"register","nickname":"alice","local_addr":"[::1]:9","colour":"red"}`,
			Register{Nickname: "alice", LocalAddr: netip.MustParseAddrPort("[::1]:9")}, ""},
		{"register with room", `{"type":"register","nickname":"a","local_addr":"1.2.3.4:9","room":"r","features":[]}`,
			Register{Nickname: "a", LocalAddr: netip.MustParseAddrPort("1.2.3.4:9"), Room: "r"}, ""},
		{"list_peers", `{"type":"list_peers"}`, ListPeers{}, ""},
		{"heartbeat with spaces", " {\"type\" : \"heartbeat\"}\n", Heartbeat{}, ""},
		{"unregister", `{"type":"unregister"}`, Unregister{}, ""},
		{"auth", `{"type":"auth","signature":"` + strings.Repeat("A", 86) + `==","url":"ws://h:80/"}`, Auth{Signature: make([]byte, 64), URL: "ws://h:80/"}, ""},

		{"not json", `hello`, nil, "parse bootstrap message"},
		{"no type", `{"nickname":"a"}`, nil, "message without type"},
		{"null", `null`, nil, "message without type"},
		{"type not a string", `{"type":5}`, nil, "parse bootstrap message"},
		{"unknown type", `{"type":"dance"}`, nil, `unknown message type "dance"`},
		{"server type from client", `{"type":"registered","peer_id":"x","public_addr":"1.2.3.4:5"}`, nil, "unknown message type"},
		{"register without nickname", `{"type":"register","local_addr":"0.0.0.0:1"}`, nil, "register without nickname"},
		{"register without local_addr", `{"type":"register","nickname":"a"}`, nil, "register without local_addr"},
		{"register empty nickname", `{"type":"register","nickname":"","local_addr":"0.0.0.0:1"}`, nil, "invalid nickname"},
		{"register long nickname", `{"type":"register","nickname":"` + strings.Repeat("x", 33) + `","local_addr":"0.0.0.0:1"}`, nil, "invalid nickname"},
		{"register control in nickname", `{"type":"register","nickname":"a\u0007","local_addr":"0.0.0.0:1"}`, nil, "control character"},
		{"register bad local_addr", `{"type":"register","nickname":"a","local_addr":"localhost:1"}`, nil, "parse register"},
		{"register empty local_addr", `{"type":"register","nickname":"a","local_addr":""}`, nil, "local_addr is not an address"},
		{"register port 0", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:0"}`, nil, "port 0"},
		{"register long room", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","room":"` + strings.Repeat("r", 65) + `"}`, nil, "invalid room name"},
		{"register room with newline", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","room":"a\nb"}`, nil, "invalid room name"},
		{"register identity without key", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","identity":"ABC"}`, nil, "needs a public_key"},
		{"register key without identity", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","public_key":"AAAA"}`, nil, "public_key without identity"},
		{"register short key", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","identity":"A","public_key":"AAAA"}`, nil, "needs a public_key"},
		{"register too many features", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","features":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`, nil, "17 features"},
		{"register feature with space", `{"type":"register","nickname":"a","local_addr":"0.0.0.0:1","features":["a b"]}`, nil, "feature contains"},
		{"auth short signature", `{"type":"auth","signature":"AAAA","url":"ws://h:80/"}`, nil, "signature of 3 bytes"},
		{"auth v1 (no url)", `{"type":"auth","signature":"` + strings.Repeat("A", 86) + `=="}`, nil, "auth without url"},
		{"auth url not normalised", `{"type":"auth","signature":"` + strings.Repeat("A", 86) + `==","url":"ws://H"}`, nil, "not normalised"},
		{"auth url not ws", `{"type":"auth","signature":"` + strings.Repeat("A", 86) + `==","url":"ftp://h/"}`, nil, "want ws://"},
		{"auth missing signature", `{"type":"auth"}`, nil, "signature of 0 bytes"},
		{"trailing garbage", `{"type":"heartbeat"} x`, nil, "parse bootstrap message"},
		{"too big", `{"type":"heartbeat","pad":"` + strings.Repeat(" ", MaxClientMessage) + `"}`, nil, "over the 65536 byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClientMessage([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseServerMessage(t *testing.T) {
	peerJSON := `{"peer_id":"p1","nickname":"bob","public_addr":"203.0.113.7:4000","local_addr":"0.0.0.0:4000","last_seen":1699123456}`
	peer := PeerInfo{PeerID: "p1", Nickname: "bob", PublicAddr: netip.MustParseAddrPort("203.0.113.7:4000"),
		LocalAddr: netip.MustParseAddrPort("0.0.0.0:4000"), LastSeen: 1699123456}
	tests := []struct {
		name    string
		in      string
		want    ServerMessage
		wantErr string
	}{
		{"registered", `{"type":"registered","peer_id":"p1","public_addr":"127.0.0.1:5"}`,
			Registered{PeerID: "p1", PublicAddr: netip.MustParseAddrPort("127.0.0.1:5")}, ""},
		{"registered with features", `{"type":"registered","peer_id":"p1","public_addr":"127.0.0.1:5","features":["push","later"]}`,
			Registered{PeerID: "p1", PublicAddr: netip.MustParseAddrPort("127.0.0.1:5"), Features: []string{"push", "later"}}, ""},
		{"peer_list", `{"type":"peer_list","peers":[` + peerJSON + `]}`, PeerList{Peers: []PeerInfo{peer}}, ""},
		{"empty peer_list", `{"type":"peer_list","peers":[]}`, PeerList{Peers: []PeerInfo{}}, ""},
		{"peer_list with a bad entry", `{"type":"peer_list","peers":[` + peerJSON + `,{"peer_id":"p2","nickname":"","public_addr":"1.2.3.4:5","local_addr":"0.0.0.0:5","last_seen":1},7]}`,
			PeerList{Peers: []PeerInfo{peer}, Skipped: 2}, ""},
		{"error", `{"type":"error","message":"Not registered"}`, Error{Message: "Not registered"}, ""},
		{"peer_joined", `{"type":"peer_joined","peer":` + peerJSON + `}`, PeerJoined{Peer: peer}, ""},
		{"peer_left", `{"type":"peer_left","peer_id":"p1"}`, PeerLeft{PeerID: "p1"}, ""},
		{"peers_joined", `{"type":"peers_joined","peers":[` + peerJSON + `,` + peerJSON + `]}`, PeersJoined{Peers: []PeerInfo{peer, peer}}, ""},
		{"peers_joined bad entry", `{"type":"peers_joined","peers":[` + peerJSON + `,{"peer_id":"p"}]}`, nil, "peers_joined entry 1: peer without nickname"},
		{"peers_joined without peers", `{"type":"peers_joined"}`, nil, "peers_joined without peers"},
		{"challenge", `{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`, Challenge{Nonce: make([]byte, 32)}, ""},

		{"registered without peer_id", `{"type":"registered","public_addr":"127.0.0.1:5"}`, nil, "without peer_id"},
		{"registered bad addr", `{"type":"registered","peer_id":"p","public_addr":"nowhere"}`, nil, "parse registered"},
		{"peer_list without peers", `{"type":"peer_list"}`, nil, "without peers"},
		{"peer_list null peers", `{"type":"peer_list","peers":null}`, nil, "without peers"},
		{"peer_joined bad peer", `{"type":"peer_joined","peer":{"peer_id":"p"}}`, nil, "peer_joined: peer without nickname"},
		{"peer_left empty", `{"type":"peer_left","peer_id":""}`, nil, "empty peer_id"},
		{"challenge short", `{"type":"challenge","nonce":"AAAA"}`, nil, "nonce of 3 bytes"},
		{"error without message", `{"type":"error"}`, nil, "without message"},
		{"unknown type", `{"type":"dance"}`, nil, "unknown message type"},
		{"client type", `{"type":"heartbeat"}`, nil, "unknown message type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseServerMessage([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestMarshalRejectsInvalid(t *testing.T) {
	if _, err := MarshalClient(Register{Nickname: " x", LocalAddr: netip.MustParseAddrPort("0.0.0.0:1")}); err == nil {
		t.Error("register with a bad nickname encoded")
	}
	if _, err := MarshalServer(PeerList{Peers: []PeerInfo{{PeerID: "p"}}}); err == nil {
		t.Error("peer_list with a bad entry encoded")
	}
	if _, err := MarshalServer(Error{Message: strings.Repeat("x", MaxErrorBytes+1)}); err == nil {
		t.Error("over-long error encoded")
	}
}

func TestValidateRoom(t *testing.T) {
	for _, ok := range []string{"", "friends", "Team Blue", "ключ", strings.Repeat("r", MaxRoomBytes)} {
		if err := ValidateRoom(ok); err != nil {
			t.Errorf("ValidateRoom(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{" x", "x ", "a\tb", "\xff", strings.Repeat("r", MaxRoomBytes+1)} {
		if err := ValidateRoom(bad); err == nil {
			t.Errorf("ValidateRoom(%q) accepted", bad)
		}
	}
}

func TestAuthMessage(t *testing.T) {
	reg := sha256.Sum256([]byte(`{"type":"register"}`))
	got := AuthMessage([]byte{1, 2}, "ws://a:80/", reg)
	sum := reg
	want := "parlance-bootstrap-auth-v2\x00" + "\x00\x02\x01\x02" + "\x00\x0aws://a:80/" + string(sum[:])
	if string(got) != want {
		t.Errorf("AuthMessage = %q, want %q", got, want)
	}
	// Each input changes the message, and the lengths keep fields apart.
	variants := [][]byte{
		AuthMessage([]byte{1, 2, 3}, "ws://a:80/", reg),
		AuthMessage([]byte{1, 2}, "ws://b:80/", reg),
		AuthMessage([]byte{1, 2}, "ws://a:80/", sha256.Sum256([]byte(`{"type":"register","room":"x"}`))),
		AuthMessage([]byte{1, 2, 0, 10}, "s://a:80/", reg),
	}
	for i, v := range variants {
		if bytes.Equal(v, got) {
			t.Errorf("variant %d signs the same bytes", i)
		}
	}
}

func TestNormalizeServerURL(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"ws://localhost:8080", "ws://localhost:8080/", ""},
		{"ws://LOCALHOST:8080/", "ws://localhost:8080/", ""},
		{"WS://example.org", "ws://example.org:80/", ""},
		{"wss://example.org", "wss://example.org:443/", ""},
		{"wss://example.org:443/parlance?x=1#f", "wss://example.org:443/parlance", ""},
		{"ws://user:pw@127.0.0.1:9/", "ws://127.0.0.1:9/", ""},
		{"ws://[::1]:8080", "ws://[::1]:8080/", ""},
		{"ws://[2001:DB8::1]", "ws://[2001:db8::1]:80/", ""},
		{"ws://h:8080/a%20b", "ws://h:8080/a%20b", ""},
		{"http://h:8080", "", "want ws:// or wss://"},
		{"ws://", "", "no host"},
		{"ws://h:0", "", "bad port"},
		{"ws://h:65536", "", "bad port"},
		{"ws://h:08080", "", "bad port"},
		{"ws://h:x", "", "server URL"},
		{"ws://h/" + strings.Repeat("p", MaxURLBytes), "", "over the 2048 byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeServerURL(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if again, err := NormalizeServerURL(got); err != nil || again != got {
				t.Errorf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

// A peer_list built from its pieces is byte for byte what MarshalServer
// makes.
func TestPeerListPieces(t *testing.T) {
	ap := netip.MustParseAddrPort
	peers := []PeerInfo{
		{PeerID: "p1", Nickname: "al<i>ce \"q\"", PublicAddr: ap("1.2.3.4:5"), LocalAddr: ap("0.0.0.0:5"), LastSeen: 7},
		{PeerID: "p2", Nickname: "bob", PublicAddr: ap("[::1]:6"), LocalAddr: ap("10.0.0.1:6"), LastSeen: 8, Identity: "XYZ"},
	}
	for n := 0; n <= len(peers); n++ {
		want, err := MarshalServer(PeerList{Peers: peers[:n]})
		if err != nil {
			t.Fatal(err)
		}
		got := []byte(PeerListHead)
		for i, p := range peers[:n] {
			e, err := MarshalPeerInfo(p)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				got = append(got, ',')
			}
			got = append(got, e...)
		}
		got = append(got, PeerListTail...)
		if !bytes.Equal(got, want) {
			t.Errorf("%d entries:\n got %s\nwant %s", n, got, want)
		}
	}
	if _, err := MarshalPeerInfo(PeerInfo{PeerID: "p"}); err == nil {
		t.Error("invalid entry encoded")
	}
}

func FuzzNormalizeServerURL(f *testing.F) {
	for _, s := range []string{"ws://localhost:8080", "wss://Example.org/a/b?c", "ws://[::1]", "ws://h:0", "ws://%zz", "ws://h/%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeServerURL(s)
		if err != nil {
			return
		}
		again, err := NormalizeServerURL(n)
		if err != nil || again != n {
			t.Fatalf("%q normalises to %q, which normalises to %q, %v", s, n, again, err)
		}
	})
}

func TestParseClientMessageFastPathAgreesWithDecoder(t *testing.T) {
	// The exact spellings take a shortcut; any other spelling of the
	// same message goes through the decoder, and both must agree.
	tests := []struct {
		exact, spaced string
		want          ClientMessage
	}{
		{`{"type":"heartbeat"}`, `{ "type" : "heartbeat" }`, Heartbeat{}},
		{`{"type":"list_peers"}`, "{\"type\":\"list_peers\"}\n", ListPeers{}},
		{`{"type":"unregister"}`, `{"type":"unregister","extra":1}`, Unregister{}},
	}
	for _, tt := range tests {
		t.Run(tt.exact, func(t *testing.T) {
			for _, in := range []string{tt.exact, tt.spaced} {
				got, err := ParseClientMessage([]byte(in))
				if err != nil || got != tt.want {
					t.Errorf("ParseClientMessage(%q) = %#v, %v; want %#v", in, got, err, tt.want)
				}
			}
			enc, err := MarshalClient(tt.want)
			if err != nil || string(enc) != tt.exact {
				t.Errorf("MarshalClient(%#v) = %s, %v; the shortcut expects %s", tt.want, enc, err, tt.exact)
			}
		})
	}
	for _, bad := range []string{`{"type":"heartbeat"`, `{"type":"heartbeat"}}`, `{"type":"Heartbeat"}`} {
		if m, err := ParseClientMessage([]byte(bad)); err == nil {
			t.Errorf("ParseClientMessage(%q) = %#v, want an error", bad, m)
		}
	}
}

func BenchmarkParseHeartbeat(b *testing.B) {
	for _, in := range []string{`{"type":"heartbeat"}`, `{ "type": "heartbeat" }`} {
		b.Run(in, func(b *testing.B) {
			msg := []byte(in)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseClientMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`,
		`{"type":"register","nickname":"a","local_addr":"[::1]:9","features":["push"],"room":"r","identity":"ABC","public_key":"6kpsY5ZTKp4cpe3C5T9ohRJR/4TyaoIrGKX+ABDmoWQ="}`,
		`{"type":"list_peers"}`, `{"type":"heartbeat"}`, `{"type":"unregister"}`,
		`{"type":"auth","signature":"` + strings.Repeat("A", 86) + `==","url":"wss://example.org:443/p"}`,
		`{"type":"x"}`, `[]`, `{`,
		`{"type":"mailbox_key_get","identity":"ABC"}`,
		`{"type":"mailbox_key_put","key":{"identity":"ABC","public_key":"6kpsY5ZTKp4cpe3C5T9ohRJR/4TyaoIrGKX+ABDmoWQ=","kem":32,"key":"AQID","created":1,"expires":2,"signature":"` + strings.Repeat("A", 86) + `=="}}`,
		`{"type":"mailbox_put","to":"ABC","id":"m1","sealed":"AQID"}`,
		`{"type":"mailbox_fetch"}`,
		`{"type":"mailbox_ack","ids":["m1","m2"]}`,
		`{"type":"connect","peer_id":"ABCDEF234567"}`, `{"type":"connect"}`, `{"type":"connect","peer_id":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMessage(b)
		if err != nil {
			return
		}
		enc, err := MarshalClient(m)
		if err != nil {
			t.Fatalf("parsed %#v but cannot encode it: %v", m, err)
		}
		again, err := ParseClientMessage(enc)
		if err != nil {
			t.Fatalf("cannot parse own encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, again)
		}
	})
}

func FuzzParseServerMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"registered","peer_id":"p1","public_addr":"127.0.0.1:5","features":["push"]}`,
		`{"type":"peer_list","peers":[{"peer_id":"p1","nickname":"bob","public_addr":"203.0.113.7:4000","local_addr":"0.0.0.0:4000","last_seen":1699123456,"identity":"X"}]}`,
		`{"type":"peer_list","peers":[]}`,
		`{"type":"error","message":"Not registered"}`,
		`{"type":"peer_joined","peer":{"peer_id":"p1","nickname":"bob","public_addr":"[::1]:4000","local_addr":"0.0.0.0:4000","last_seen":1}}`,
		`{"type":"peer_left","peer_id":"p1"}`,
		`{"type":"peers_joined","peers":[{"peer_id":"p1","nickname":"bob","public_addr":"[::1]:4000","local_addr":"0.0.0.0:4000","last_seen":1}]}`,
		`{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"type":"mailbox_status","count":2,"bytes":300}`,
		`{"type":"mailbox_key","identity":"ABC"}`,
		`{"type":"mailbox_key","identity":"ABC","key":{"identity":"ABC","public_key":"6kpsY5ZTKp4cpe3C5T9ohRJR/4TyaoIrGKX+ABDmoWQ=","kem":32,"key":"AQID","created":1,"expires":2,"signature":"` + strings.Repeat("A", 86) + `=="}}`,
		`{"type":"mailbox_stored","to":"ABC","id":"m1","error":"full"}`,
		`{"type":"mailbox_items","items":[{"id":"m1","from":"ABC","at":5,"sealed":"AQID"}],"more":true}`,
		`{"type":"mailbox_items","items":[]}`,
		`{"type":"connect","peer_id":"ABC","public_addr":"203.0.113.3:4000","local_addr":"192.168.1.2:4000","token":"t0k3n","relay":true}`,
		`{"type":"connect","peer_id":"ABC","public_addr":"203.0.113.3:4000","local_addr":"0.0.0.0:4000","token":"","relay":false}`,
		`{"type":"connect","peer_id":"ABC","public_addr":"203.0.113.3:4000","local_addr":"0.0.0.0:4000","token":"x","relay":false}`,
		`{"type":"connect_failed","peer_id":"ABC","reason":"offline"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseServerMessage(b)
		if err != nil {
			return
		}
		if l, ok := m.(PeerList); ok {
			l.Skipped = 0
			m = l
		}
		enc, err := MarshalServer(m)
		if err != nil {
			t.Fatalf("parsed %#v but cannot encode it: %v", m, err)
		}
		again, err := ParseServerMessage(enc)
		if err != nil {
			t.Fatalf("cannot parse own encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, again)
		}
	})
}
