package lan

import (
	"net/netip"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// FuzzSignedAnnounce feeds made-up datagrams, from one of two addresses
// and at a made-up time, to a node that has heard bob signed. Whatever
// arrives, nothing about bob is reported unless bob's key signed it for
// the address it came from, within the window, and no older than what
// was accepted before.
func FuzzSignedAnnounce(f *testing.F) {
	for _, dg := range []wire.Datagram{
		signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, signT0.Add(time.Second)),
		signedBy(bobKey, wire.TypeGoodbye, "bob-1", bobAddr, signT0.Add(time.Second)),
		signedBy(bobKey, wire.TypeAnnounce, "bob-2", malloryAddr, signT0.Add(time.Second)),
		signedBy(malloryKey, wire.TypeAnnounce, "m", malloryAddr, signT0),
		{Type: wire.TypeAnnounce, Nickname: "bob", TCPPort: 1, Instance: "x", Identity: bobKey.ID().String()},
		{Type: wire.TypeAnnounce, Nickname: "olga", TCPPort: 1},
	} {
		b, err := dg.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false, int64(1000))
		f.Add(b, true, int64(-1000))
	}
	bobID := bobKey.ID().String()
	f.Fuzz(func(t *testing.T, b []byte, fromMallory bool, atMs int64) {
		dg, err := wire.ParseDatagram(b)
		if err != nil {
			return
		}
		h := newHandleHarness(t)
		first := signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, signT0)
		h.deliver(t, first, bobAddr, signT0)
		src := bobAddr
		if fromMallory {
			src = malloryAddr
		}
		now := signT0.Add(time.Duration(atMs%(1<<40)) * time.Millisecond)
		before := len(h.rec.all())
		h.d.handle(dg, src, now, h.known, h.rec, h.kick)
		for _, s := range h.rec.all()[before:] {
			if s.Peer.Identity != bobID {
				continue
			}
			pub, err := dg.Verify(src)
			if err != nil || !pub.Equal(bobKey.PublicKey()) {
				t.Fatalf("reported %+v from %v without bob's signature (%v)", s, src, err)
			}
			at := time.UnixMilli(dg.Time)
			if at.Before(now.Add(-DefaultSignatureWindow)) || at.After(now.Add(DefaultSignatureWindow)) || dg.Time < first.Time {
				t.Fatalf("reported %+v signed at %v, received at %v", s, at, now)
			}
			if s.Peer.Addr.Addr() != netip.Addr(src) {
				t.Fatalf("reported %+v at another address than its source %v", s, src)
			}
		}
	})
}
