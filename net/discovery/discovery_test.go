package discovery

import (
	"net/netip"
	"testing"
)

func TestPeerKey(t *testing.T) {
	addr := netip.MustParseAddrPort("192.0.2.7:4242")
	cases := []struct {
		name string
		peer Peer
		want string
	}{
		{"identity wins", Peer{Nickname: "alice", Identity: "ABC", Instance: "i1", Addr: addr}, "id:ABC"},
		{"identity without address", Peer{Nickname: "alice", Identity: "ABC"}, "id:ABC"},
		{"original peer", Peer{Nickname: "bob", Addr: addr}, "orig:bob@192.0.2.7"},
		{"keyless Parlance peer: instance ignored", Peer{Nickname: "bob", Instance: "i2", Addr: addr}, "orig:bob@192.0.2.7"},
		{"port ignored", Peer{Nickname: "bob", Addr: netip.MustParseAddrPort("192.0.2.7:1")}, "orig:bob@192.0.2.7"},
		{"IPv4-mapped address unmapped", Peer{Nickname: "bob", Addr: netip.MustParseAddrPort("[::ffff:192.0.2.7]:4242")}, "orig:bob@192.0.2.7"},
		{"IPv6", Peer{Nickname: "bob", Addr: netip.MustParseAddrPort("[2001:db8::1]:4242")}, "orig:bob@2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.peer.Key(); got != tc.want {
				t.Errorf("Key() = %q, want %q", got, tc.want)
			}
		})
	}
}
