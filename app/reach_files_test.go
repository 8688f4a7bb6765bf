package app_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

// A file reaches a peer whose direct dials are dropped (the fake NATs of
// TestReachOverFakeNATs): its streams are punched, or relayed when
// punching fails.
func TestFileOverFakeNATs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		punchFails bool
	}{
		{"punched", false},
		{"relayed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startBootstrap(t)
			pipes := &meeting{m: map[string]chan net.Conn{}}
			srv := &fakeServer{relay: true, pipes: pipes, nodes: map[string]*app.Node{}}
			punchFails := &atomic.Bool{}
			punchFails.Store(tc.punchFails)
			var nats []*fakeNAT
			opts := func() nodeOpts {
				id, err := identity.Generate()
				if err != nil {
					t.Fatal(err)
				}
				self := id.ID().String()
				return nodeOpts{id: id, server: url, files: &app.FilesConfig{Dir: t.TempDir()},
					wrap: func(tr *transport.Transport) app.Transport {
						f := &fakeNAT{Transport: tr, self: self, pipes: pipes, punchFails: punchFails}
						nats = append(nats, f)
						return f
					},
					reach: func(*identity.Identity) *app.ReachConfig {
						return &app.ReachConfig{Server: fakeClient{srv, self}, RelayDial: srv.dialRelay,
							PunchWindow: 300 * time.Millisecond, HeadStart: 100 * time.Millisecond}
					}}
			}
			alice := startNodeWith(t, "alice", 0, opts())
			bob := startNodeWith(t, "bob", 0, opts())
			srv.mu.Lock()
			srv.nodes[alice.id.ID().String()], srv.nodes[bob.id.ID().String()] = alice.Node, bob.Node
			srv.mu.Unlock()
			keys := waitJoins(t, alice, "bob")
			waitJoins(t, bob, "alice")

			path, content := writeRandom(t, "behind-nat.bin", 300<<10+7)
			if _, err := alice.SendFile(context.Background(), keys["bob"], path); err != nil {
				t.Fatalf("SendFile: %v", err)
			}
			offer := waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
			if _, err := bob.AcceptFile(filexfer.ShortID(offer.Transfer.ID)); err != nil {
				t.Fatalf("AcceptFile: %v", err)
			}
			done := waitFor(t, bob, "the download's end", func(e app.TransferChanged) bool {
				return e.Kind == filexfer.EventDone || e.Kind == filexfer.EventFailed
			})
			if done.Kind != filexfer.EventDone {
				t.Fatalf("download ended %v: %s", done.Kind, done.Transfer.Error)
			}
			if got, err := os.ReadFile(done.Transfer.Path); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("saved %d bytes (%v), want %d", len(got), err, len(content))
			}
			waitFor(t, alice, "the upload's end", transferEvent(filexfer.EventDone, filexfer.Send))

			// The offer (alice → bob) and the download (bob → alice)
			// each took one stream, on both sides.
			punched := nats[0].streams.Load() + nats[1].streams.Load()
			relayed := srv.relays.Load()
			t.Logf("streams: %d punched, %d relay dials", punched, relayed)
			if tc.punchFails && (punched != 0 || relayed < 4) || !tc.punchFails && (punched < 4 || relayed != 0) {
				t.Errorf("%d punched stream ends, %d relay dials; want them all %s", punched, relayed, tc.name)
			}
			// No kept connection was made for it.
			if p, _ := alice.Peer(keys["bob"]); p.Path != transport.PathNone {
				t.Errorf("alice's path to bob is %v after a file alone", p.Path)
			}
		})
	}
}
