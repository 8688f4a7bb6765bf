package app_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
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
			f := startFakeNATs(t, tc.punchFails, func(o *nodeOpts) { o.files = &app.FilesConfig{Dir: t.TempDir()} })
			path, content := writeRandom(t, "behind-nat.bin", 300<<10+7)
			if _, err := f.alice.SendFile(context.Background(), f.bobKey, path); err != nil {
				t.Fatalf("SendFile: %v", err)
			}
			offer := waitFor(t, f.bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
			done := acceptAndWait(t, f.bob, offer)
			if got, err := os.ReadFile(done.Transfer.Path); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("saved %d bytes (%v), want %d", len(got), err, len(content))
			}
			waitFor(t, f.alice, "the upload's end", transferEvent(filexfer.EventDone, filexfer.Send))

			// The offer (alice → bob) and the download (bob → alice)
			// each took one stream, counted on both sides.
			punched := f.nats[0].streams.Load() + f.nats[1].streams.Load()
			relayed := f.srv.relays.Load()
			t.Logf("stream ends: %d punched, %d relay dials", punched, relayed)
			if tc.punchFails && (punched != 0 || relayed < 4) || !tc.punchFails && (punched < 4 || relayed != 0) {
				t.Errorf("%d punched stream ends, %d relay dials; want them all %s", punched, relayed, tc.name)
			}
			// No kept connection was made for it.
			if p, _ := f.alice.Peer(f.bobKey); p.Path != transport.PathNone {
				t.Errorf("alice's path to bob is %v after a file alone", p.Path)
			}
		})
	}
}
