package wire

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestReachMessages(t *testing.T) {
	offer := ConnectOffer{PeerID: "ABCDEF234567", PublicAddr: netip.MustParseAddrPort("203.0.113.3:4000"),
		LocalAddr: netip.MustParseAddrPort("192.168.1.2:4000"), Token: "t0k3n", Relay: true}
	tests := []struct {
		name string
		m    any // ClientMessage or ServerMessage
		want string
	}{
		{"connect", Connect{PeerID: "ABCDEF234567"}, `{"type":"connect","peer_id":"ABCDEF234567"}`},
		{"offer", offer, `{"type":"connect","peer_id":"ABCDEF234567","public_addr":"203.0.113.3:4000","local_addr":"192.168.1.2:4000","token":"t0k3n","relay":true}`},
		{"offer without relay", ConnectOffer{PeerID: "X", PublicAddr: offer.PublicAddr, LocalAddr: netip.MustParseAddrPort("0.0.0.0:4000")},
			`{"type":"connect","peer_id":"X","public_addr":"203.0.113.3:4000","local_addr":"0.0.0.0:4000","token":"","relay":false}`},
		{"connect_failed", ConnectFailed{PeerID: "X", Reason: ReasonOffline}, `{"type":"connect_failed","peer_id":"X","reason":"offline"}`},
		{"connect for a stream", Connect{PeerID: "X", Proto: "parlance-file/1"}, `{"type":"connect","peer_id":"X","proto":"parlance-file/1"}`},
		{"offer for a stream", ConnectOffer{PeerID: "X", PublicAddr: offer.PublicAddr, LocalAddr: offer.LocalAddr, Proto: "parlance-file/1"},
			`{"type":"connect","peer_id":"X","public_addr":"203.0.113.3:4000","local_addr":"192.168.1.2:4000","token":"","relay":false,"proto":"parlance-file/1"}`},
		{"connect_failed for a stream", ConnectFailed{PeerID: "X", Reason: ReasonOffline, Proto: "parlance-file/1"},
			`{"type":"connect_failed","peer_id":"X","reason":"offline","proto":"parlance-file/1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			var err error
			var back any
			switch m := tc.m.(type) {
			case ClientMessage:
				if b, err = MarshalClient(m); err == nil {
					back, err = ParseClientMessage(b)
				}
			case ServerMessage:
				if b, err = MarshalServer(m); err == nil {
					back, err = ParseServerMessage(b)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
			if !reflect.DeepEqual(back, tc.m) {
				t.Errorf("round trip: %#v, want %#v", back, tc.m)
			}
		})
	}
}

func TestReachMessagesInvalid(t *testing.T) {
	pub := netip.MustParseAddrPort("203.0.113.3:4000")
	server := []struct {
		name string
		m    ServerMessage
	}{
		{"no peer", ConnectOffer{PublicAddr: pub, LocalAddr: pub}},
		{"no public_addr", ConnectOffer{PeerID: "X", LocalAddr: pub}},
		{"port 0", ConnectOffer{PeerID: "X", PublicAddr: netip.MustParseAddrPort("203.0.113.3:0"), LocalAddr: pub}},
		{"no local_addr", ConnectOffer{PeerID: "X", PublicAddr: pub}},
		{"relay without token", ConnectOffer{PeerID: "X", PublicAddr: pub, LocalAddr: pub, Relay: true}},
		{"token without relay", ConnectOffer{PeerID: "X", PublicAddr: pub, LocalAddr: pub, Token: "t"}},
		{"long token", ConnectOffer{PeerID: "X", PublicAddr: pub, LocalAddr: pub, Token: strings.Repeat("t", MaxTokenBytes+1), Relay: true}},
		{"token with a space", ConnectOffer{PeerID: "X", PublicAddr: pub, LocalAddr: pub, Token: "a b", Relay: true}},
		{"failed without peer", ConnectFailed{Reason: ReasonOffline}},
		{"long reason", ConnectFailed{PeerID: "X", Reason: strings.Repeat("r", MaxReasonBytes+1)}},
		{"long proto", ConnectOffer{PeerID: "X", PublicAddr: pub, LocalAddr: pub, Proto: strings.Repeat("p", MaxProtoBytes+1)}},
		{"proto with a space", ConnectFailed{PeerID: "X", Reason: ReasonOffline, Proto: "a b"}},
	}
	for _, tc := range server {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := MarshalServer(tc.m); err == nil {
				t.Errorf("encoded %s", b)
			}
		})
	}
	for _, in := range []string{
		`{"type":"connect"}`, `{"type":"connect","peer_id":""}`, `{"type":"connect","peer_id":"a b"}`,
	} {
		if m, err := ParseClientMessage([]byte(in)); err == nil {
			t.Errorf("ParseClientMessage(%s) = %#v, want an error", in, m)
		}
	}
	for _, in := range []string{
		`{"type":"connect","peer_id":"X","local_addr":"0.0.0.0:1"}`,
		`{"type":"connect","peer_id":"X","public_addr":"1.2.3.4:5"}`,
		`{"type":"connect_failed","peer_id":"X"}`,
	} {
		if m, err := ParseServerMessage([]byte(in)); err == nil {
			t.Errorf("ParseServerMessage(%s) = %#v, want an error", in, m)
		}
	}
}
