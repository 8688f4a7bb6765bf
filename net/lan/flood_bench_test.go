package lan

import (
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
//     full of peers still alive, as during a flood of forged announces;
//   - signed-known: a signed announce of a peer heard before (a new
//     signature each time, so each is checked);
//   - signed-forged-flood: forged signed announces (bad signatures) from
//     one source as fast as they come: the per-source limit lets a few
//     checks through and drops the rest unchecked.
func BenchmarkHandleAnnounce(b *testing.B) {
	for _, name := range []string{"known", "new", "flood-full", "signed-known", "signed-forged-flood"} {
		b.Run(name, func(b *testing.B) { benchHandleAnnounce(b, name) })
	}
}

type discardHandler struct{}

func (discardHandler) Sighting(discovery.Sighting) {}
func (discardHandler) State(discovery.State)       {}

func benchHandleAnnounce(b *testing.B, scenario string) {
	if scenario == "signed-known" || scenario == "signed-forged-flood" {
		benchHandleSigned(b, scenario == "signed-forged-flood")
		return
	}
	h := newHandleHarness(b)
	d, known, kick := h.d, h.known, h.kick
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
			known = d.newKnownSet()
		}
		select {
		case <-kick:
		default:
		}
		i++
	}
}

// benchHandleSigned measures handle on signed announces of bob, made up
// front: his own, 10 ms apart (so every one is checked), or forgeries
// (another of his signatures pasted in) arriving 1 µs apart from one
// source.
func benchHandleSigned(b *testing.B, forged bool) {
	h := newHandleHarness(b)
	step := 10 * time.Millisecond
	if forged {
		step = time.Microsecond
	}
	signed := make([]wire.Datagram, 1024)
	for k := range signed {
		signed[k] = signedBy(bobKey, wire.TypeAnnounce, "bob-1", fakeSrc, signT0.Add(time.Duration(k+1)*10*time.Millisecond))
	}
	if forged {
		first := signed[0].Signature
		for k := range signed {
			if k+1 < len(signed) {
				signed[k].Signature = signed[k+1].Signature
			} else {
				signed[k].Signature = first
			}
		}
	}
	b.ReportAllocs()
	now, k := signT0, 0
	for b.Loop() {
		if k == len(signed) { // start again: a peer's times only grow
			k, now = 0, signT0
			if !forged {
				h.known, h.d.limiter = h.d.newKnownSet(), newVerifyLimiter()
			}
		}
		now = now.Add(step)
		h.d.handle(signed[k], fakeSrc, now, h.known, discardHandler{}, h.kick)
		k++
	}
}
