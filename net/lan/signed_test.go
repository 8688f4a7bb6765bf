package lan

import (
	"crypto/ed25519"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Signed announces and goodbyes (issue 11, items 1 and 2): the attacks
// replayed against Discovery.handle with a fake clock.

var (
	bobAddr     = netip.MustParseAddr("192.0.2.7")
	malloryAddr = netip.MustParseAddr("192.0.2.66")
	signT0      = time.Unix(1_700_000_000, 0)
)

// keyFromSeed makes a deterministic identity.
func keyFromSeed(b byte) *identity.Identity {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed))
}

var (
	bobKey     = keyFromSeed(1)
	malloryKey = keyFromSeed(2)
)

// signedBy is a datagram of type typ from the peer holding key, run as
// instance, signed at at for sending from src.
func signedBy(key *identity.Identity, typ, instance string, src netip.Addr, at time.Time) wire.Datagram {
	dg := wire.Datagram{Type: typ, Nickname: "bob", TCPPort: 4242, Instance: instance, Identity: key.ID().String()}
	if typ == wire.TypeGoodbye {
		dg.TCPPort = 0
	}
	dg.Sign(key.PrivateKey(), src, at)
	return dg
}

// handleHarness runs handle with a recorder, as the reader would.
type handleHarness struct {
	d     *Discovery
	known *peerSet
	rec   *recorder
	kick  chan struct{}
}

func newHandleHarness(tb testing.TB) *handleHarness {
	cfg, err := Config{
		Self:   discovery.Self{Nickname: "alice", Identity: "id-alice", Instance: "inst-alice", TCPPort: 5000},
		Logger: slog.New(slog.DiscardHandler),
	}.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	d := newDiscovery(cfg, nil, nil)
	return &handleHarness{d: d, known: d.newKnownSet(), rec: newRecorder(), kick: make(chan struct{}, 1)}
}

// deliver passes dg through its wire form, as received from src at now.
func (h *handleHarness) deliver(tb testing.TB, dg wire.Datagram, src netip.Addr, now time.Time) {
	tb.Helper()
	b, err := dg.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := wire.ParseDatagram(b)
	if err != nil {
		tb.Fatal(err)
	}
	h.d.handle(parsed, src, now, h.known, h.rec, h.kick)
}

func TestSignedDatagramChecks(t *testing.T) {
	bobAnnounce := signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, signT0)
	bobGoodbye := signedBy(bobKey, wire.TypeGoodbye, "bob-1", bobAddr, signT0.Add(time.Second))
	unsignedBob := bobAnnounce
	unsignedBob.Time, unsignedBob.PublicKey, unsignedBob.Signature = 0, "", ""
	movedUnsigned := unsignedBob
	movedUnsigned.Instance, movedUnsigned.TCPPort = "forged", 9999
	// mallory signs with her own key but claims bob's identity.
	wrongKey := signedBy(malloryKey, wire.TypeAnnounce, "forged", malloryAddr, signT0)
	wrongKey.Identity = bobKey.ID().String()
	wrongKey.Sign(malloryKey.PrivateKey(), malloryAddr, signT0)
	// A valid signature, with another key's public key pasted in.
	pasted := bobAnnounce
	pasted.PublicKey = signedBy(malloryKey, wire.TypeAnnounce, "x", malloryAddr, signT0).PublicKey

	type step struct {
		dg   wire.Datagram
		from netip.Addr
		at   time.Duration // after signT0
	}
	tests := []struct {
		name  string
		steps []step
		// want is the sightings the last step must add: "" none, "seen",
		// "gone".
		want string
	}{
		{"signed announce", []step{{bobAnnounce, bobAddr, 0}}, "seen"},
		{"copied announce from another IP", []step{{bobAnnounce, malloryAddr, 0}}, ""},
		{"item 1: copied announce, then copied goodbye, from another IP", []step{
			{bobAnnounce, bobAddr, 0}, {bobAnnounce, malloryAddr, 0}, {bobGoodbye, malloryAddr, time.Second}}, ""},
		{"signed goodbye from the peer", []step{{bobAnnounce, bobAddr, 0}, {bobGoodbye, bobAddr, time.Second}}, "gone"},
		{"item 2: unsigned announce moving a signed peer", []step{{bobAnnounce, bobAddr, 0}, {movedUnsigned, malloryAddr, time.Second}}, ""},
		{"unsigned announce of a signed peer from its IP", []step{{bobAnnounce, bobAddr, 0}, {unsignedBob, bobAddr, time.Second}}, ""},
		{"unsigned goodbye of a signed peer", []step{{bobAnnounce, bobAddr, 0}, {goodbyeOf(unsignedBob), bobAddr, time.Second}}, ""},
		{"signed by a key that is not the identity's", []step{{bobAnnounce, bobAddr, 0}, {wrongKey, malloryAddr, time.Second}}, ""},
		{"another key's public key pasted in", []step{{pasted, bobAddr, 0}}, ""},
		{"stale: older than the window", []step{{bobAnnounce, bobAddr, DefaultSignatureWindow + time.Second}}, ""},
		{"from the future: beyond the window", []step{{bobAnnounce, bobAddr, -DefaultSignatureWindow - time.Second}}, ""},
		{"older announce never replaces a newer one", []step{
			{signedBy(bobKey, wire.TypeAnnounce, "bob-2", bobAddr, signT0.Add(10*time.Second)), bobAddr, 10 * time.Second},
			{bobAnnounce, bobAddr, 11 * time.Second}}, ""},
		{"replayed announce after a goodbye", []step{
			{bobAnnounce, bobAddr, 0}, {bobGoodbye, bobAddr, time.Second}, {bobAnnounce, bobAddr, 2 * time.Second}}, ""},
		{"the same announce again refreshes", []step{{bobAnnounce, bobAddr, 0}, {bobAnnounce, bobAddr, time.Second}}, "seen"},
		{"unsigned announce of an identity never heard signed (older Parlance)", []step{{unsignedBob, bobAddr, 0}}, "seen"},
		{"original peer", []step{{wire.Datagram{Type: wire.TypeAnnounce, Nickname: "olga", TCPPort: 1}, bobAddr, 0}}, "seen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandleHarness(t)
			before := 0
			for i, s := range tt.steps {
				if i == len(tt.steps)-1 {
					before = len(h.rec.all())
				}
				h.deliver(t, s.dg, s.from, signT0.Add(s.at))
			}
			added := h.rec.all()[before:]
			got := ""
			if len(added) > 0 {
				got = added[len(added)-1].Kind.String()
			}
			if len(added) > 1 || got != tt.want {
				t.Errorf("last step added %+v, want %q", added, tt.want)
			}
		})
	}
}

// TestSignedMoveKeepsAddress: the attack of item 2 done with bob's own
// announces copied to another IP, ten times a second for a minute, never
// moves bob, and bob's own later announces still count.
func TestSignedMoveKeepsAddress(t *testing.T) {
	h := newHandleHarness(t)
	h.deliver(t, signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, signT0), bobAddr, signT0)
	for i := range 600 {
		at := signT0.Add(time.Duration(i) * 100 * time.Millisecond)
		copied := signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, at)
		copied.Instance = "forged" // re-signing needs bob's key; keep his signature
		h.deliver(t, copied, malloryAddr, at)
	}
	h.deliver(t, signedBy(bobKey, wire.TypeAnnounce, "bob-1", bobAddr, signT0.Add(time.Minute)), bobAddr, signT0.Add(time.Minute))
	for _, s := range h.rec.all() {
		if s.Peer.Addr.Addr() != bobAddr || s.Peer.Instance != "bob-1" {
			t.Fatalf("sighting moved bob: %+v", s)
		}
	}
	if n := len(h.rec.all()); n != 2 {
		t.Errorf("%d sightings, want bob's own 2", n)
	}
}

func TestVerifyLimiter(t *testing.T) {
	l := newVerifyLimiter()
	count := func(src netip.Addr, n int, at time.Time) int {
		ok := 0
		for range n {
			if l.allow(src, at) {
				ok++
			}
		}
		return ok
	}
	if got := count(malloryAddr, 10_000, signT0); got != verifyBurstPerSource {
		t.Errorf("one source, at once: %d checks allowed, want the burst %d", got, verifyBurstPerSource)
	}
	if got := count(malloryAddr, 10_000, signT0.Add(time.Second)); got != verifyPerSource {
		t.Errorf("one source, a second later: %d checks allowed, want %d", got, verifyPerSource)
	}
	if !l.allow(bobAddr, signT0.Add(time.Second)) {
		t.Error("another source is throttled by the first one's flood")
	}
	total := 0
	for i := range 100 { // many sources at once: the total bounds them
		total += count(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 1000, signT0.Add(time.Second))
	}
	if max := verifyBurstTotal; total > max {
		t.Errorf("100 sources: %d checks allowed, want at most %d", total, max)
	}
	for i := range 3 * maxVerifySources { // many sources over time: the map stays bounded
		l.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), signT0.Add(time.Duration(i)*time.Second))
	}
	if len(l.sources) > maxVerifySources {
		t.Errorf("%d per-source buckets, want at most %d", len(l.sources), maxVerifySources)
	}
}

// TestSignedAnnounceOnLoopback: two nodes with keys find each other over
// real sockets, signed; a node without a key still does (unsigned).
func TestSignedAnnounceOnLoopback(t *testing.T) {
	port := testPort()
	mk := func(name string, key *identity.Identity) *node {
		cfg := loConfig(t, port, name)
		if key != nil {
			cfg.Identity = key
			cfg.Self.Identity = key.ID().String()
		}
		return newNode(t, cfg)
	}
	a, b, c := mk("alice", keyFromSeed(10)), mk("bob", keyFromSeed(11)), mk("carol", nil)
	a.start()
	b.start()
	c.start()
	a.rec.waitFor(t, "alice hears bob", a.sees(b))
	b.rec.waitFor(t, "bob hears alice", b.sees(a))
	a.rec.waitFor(t, "alice hears carol", a.sees(c))
	c.rec.waitFor(t, "carol hears alice", c.sees(a))
	b.stop(t)
	a.rec.waitFor(t, "alice hears bob's signed goodbye", func(s discovery.Sighting) bool {
		return s.Kind == discovery.Gone && s.Peer.Identity == b.self.Identity
	})
}

func TestConfigRefusesKeyOfAnotherIdentity(t *testing.T) {
	_, err := Config{Self: discovery.Self{Nickname: "a", Identity: "id-other", TCPPort: 1}, Identity: bobKey}.withDefaults()
	if err == nil {
		t.Fatal("a signing key that is not the announced identity's was accepted")
	}
}
