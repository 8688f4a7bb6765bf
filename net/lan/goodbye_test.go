package lan

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

// deliverFrom hands a datagram from src to the node and waits until it is
// handled.
func (f *fakeNode) deliverFrom(t *testing.T, dg wire.Datagram, src netip.Addr) {
	t.Helper()
	b, err := dg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.recv.in <- fakePacket{b: b, src: src}
	synctest.Wait()
}

func goodbyeOf(dg wire.Datagram) wire.Datagram {
	dg.Type, dg.TCPPort = wire.TypeGoodbye, 0
	return dg
}

// TestForgedGoodbyeIgnored: a goodbye counts only from the IP (and
// instance) of the peer's last announce; identity and instance are public.
func TestForgedGoodbyeIgnored(t *testing.T) {
	mallory := netip.MustParseAddr("192.0.2.66")
	original := wire.Datagram{Type: wire.TypeAnnounce, Nickname: "olga", TCPPort: 4243}
	cases := []struct {
		name    string
		goodbye wire.Datagram
		from    netip.Addr
		gone    bool
	}{
		{"from the peer", goodbyeOf(peerAnnounce("bob")), fakeSrc, true},
		{"from another IP", goodbyeOf(peerAnnounce("bob")), mallory, false},
		{"an old instance", wire.Datagram{Type: wire.TypeGoodbye, Nickname: "bob", Instance: "bob-before", Identity: "id-bob"}, fakeSrc, false},
		{"a peer never heard", goodbyeOf(peerAnnounce("carol")), fakeSrc, false},
		{"original peer from its IP", goodbyeOf(original), fakeSrc, true},
		{"original peer's nickname from another IP", goodbyeOf(original), mallory, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeNode(t, Config{})
				f.start()
				f.deliverFrom(t, peerAnnounce("bob"), fakeSrc)
				f.deliverFrom(t, original, fakeSrc)
				f.deliverFrom(t, tc.goodbye, tc.from)
				f.stop(t)

				gone := 0
				for _, s := range f.rec.all() {
					if s.Kind == discovery.Gone {
						gone++
					}
				}
				if want := map[bool]int{true: 1, false: 0}[tc.gone]; gone != want {
					t.Errorf("%d Gone sightings, want %d: %+v", gone, want, f.rec.all())
				}
			})
		})
	}
}

// warnCounter is a slog handler that counts the records at Warn and above.
type warnCounter struct{ n *atomic.Int32 }

func (h warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h warnCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h warnCounter) WithGroup(string) slog.Handler            { return h }
func (h warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}

// TestBadDatagramsLogRateLimited: a flood of bad datagrams logs one
// warning a minute.
func TestBadDatagramsLogRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{})
		warns := new(atomic.Int32)
		f.d.log = slog.New(warnCounter{warns})
		f.start()
		for range 500 {
			f.recv.in <- fakePacket{b: []byte("junk"), src: fakeSrc}
		}
		synctest.Wait()
		if n := warns.Load(); n != 1 {
			t.Errorf("%d warnings for a burst of bad datagrams, want 1", n)
		}
		time.Sleep(time.Minute)
		f.recv.in <- fakePacket{b: []byte("junk"), src: fakeSrc}
		synctest.Wait()
		if n := warns.Load(); n != 2 {
			t.Errorf("%d warnings a minute later, want 2", n)
		}
		f.stop(t)
	})
}
