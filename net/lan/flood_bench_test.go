package lan

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

// BenchmarkHandleAnnounce measures what the reader spends on one valid
// announce (the sighting goes to a handler that discards it):
//
//   - known: a peer heard before;
//   - new: a new peer while the known set has room (entries are removed
//     again so it never fills);
//   - flood-full: a forged announce with a new key while the known set is
//     full of peers still alive, as during a flood of forged announces.
func BenchmarkHandleAnnounce(b *testing.B) {
	for _, name := range []string{"known", "new", "flood-full"} {
		b.Run(name, func(b *testing.B) { benchHandleAnnounce(b, name) })
	}
}

type discardHandler struct{}

func (discardHandler) Sighting(discovery.Sighting) {}
func (discardHandler) State(discovery.State)       {}

func benchHandleAnnounce(b *testing.B, scenario string) {
	cfg, err := Config{
		Self:   discovery.Self{Nickname: "alice", Identity: "id-alice", Instance: "inst-alice", TCPPort: 5000},
		Logger: slog.New(slog.DiscardHandler),
	}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	d := newDiscovery(cfg, nil, nil)
	known := newPeerSet(MaxKnownPeers, cfg.PeerTimeout)
	kick := make(chan struct{}, 1)
	now := time.Unix(1_700_000_000, 0)
	dg := wire.Datagram{Type: wire.TypeAnnounce, Nickname: "mallory", TCPPort: 4242}
	// Forged keys, made up front so the loop measures handle alone.
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "forged-" + strconv.Itoa(i)
	}
	if scenario == "flood-full" {
		for i := range MaxKnownPeers {
			dg.Identity = "alive-" + strconv.Itoa(i)
			dg.Instance = dg.Identity
			d.handle(dg, fakeSrc, now, known, discardHandler{}, kick)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond) // 13k forged packets a second and more
		switch scenario {
		case "known":
			dg.Identity, dg.Instance = "bob", "bob"
		default:
			dg.Identity, dg.Instance = keys[i%len(keys)], keys[i%len(keys)]
		}
		d.handle(dg, fakeSrc, now, known, discardHandler{}, kick)
		if scenario == "new" && known.len() >= MaxKnownPeers/2 {
			known = newPeerSet(MaxKnownPeers, cfg.PeerTimeout)
		}
		select {
		case <-kick:
		default:
		}
		i++
	}
}
