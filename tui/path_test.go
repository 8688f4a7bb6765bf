package tui

import (
	"testing"

	"github.com/parlance-chat/parlance/app"
)

// The conversation header and /whois show how the connection to a peer
// was made, and follow PathChanged.
func TestPathShown(t *testing.T) {
	node := newFakeNode()
	p := testPeer("dana", "dana")
	p.Source = "internet"
	node.upsert(p)
	h := newPickedHarness(t, node, Options{})
	h.wantScreen("dana · online · internet · encrypted, not verified")
	h.enter("/whois dana")
	h.wantScreen("connection: none yet")

	for _, tc := range []struct {
		path        app.Peer
		header, who string
	}{
		{withPath(p, app.PathPunched), "dana · online · internet, punched ·", "connection: punched through the NATs (direct, over the internet)"},
		{withPath(p, app.PathRelayed), "dana · online · internet, relayed ·", "connection: relayed by the bootstrap server"},
		{withPath(p, app.PathDirect), "dana · online · internet, direct ·", "connection: direct, over the internet"},
	} {
		t.Run(tc.path.Path.String(), func(t *testing.T) {
			node.upsert(tc.path)
			h.events(app.PathChanged{Peer: tc.path})
			h.wantScreen(tc.header)
			h.enter("/whois dana")
			h.wantScreen(tc.who)
		})
	}
	h.events(app.PathChanged{Peer: p})
	h.wantScreen("dana · online · internet · encrypted")
}

func withPath(p app.Peer, path app.Path) app.Peer {
	p.Path = path
	return p
}
