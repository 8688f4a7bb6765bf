package xfer

import (
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
)

func TestList(t *testing.T) {
	peer := strings.Repeat("P", 52)
	ts := []filexfer.Transfer{
		{ID: strings.Repeat("a", 32), Peer: peer, Dir: filexfer.Send, Name: "a.txt", Size: 1500, State: filexfer.StateDone},
		{ID: strings.Repeat("b", 32), Peer: peer, Dir: filexfer.Receive, Name: "b\x1b[2J.txt", Size: 2_000_000, State: filexfer.StateActive, Done: 1_000_000},
		{ID: strings.Repeat("c", 32), Peer: "QQQQQQQQQQ", Dir: filexfer.Receive, Name: "c", Size: 1, State: filexfer.StateFailed, Error: "hash mismatch"},
		{ID: strings.Repeat("d", 32), Peer: peer, Dir: filexfer.Send, Name: "d.pdf", Size: 10, State: filexfer.StateQueued, Error: "waiting for the peer to come online", Group: "0a"},
	}
	name := func(k app.PeerKey) string {
		switch k {
		case app.PeerKey("id:" + peer):
			return "bob"
		case app.PeerKey(app.GroupKeyPrefix + "0a"):
			return "#team"
		}
		return ""
	}
	got := List(ts, "  ", name)
	for _, want := range []string{
		"4 file transfer(s):",
		"\n  dddddddd  to bob in #team  d.pdf  10 B  queued (waiting for the peer to come online)",
		"\n  aaaaaaaa  to bob  a.txt  1.5 kB  done",
		"\n  bbbbbbbb  from bob  b",
		".txt  2.0 MB  1.0 MB of 2.0 MB (50%)",
		"\n  cccccccc  from QQQQQQQQ  c  1 B  failed (hash mismatch)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("list lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("an escape sequence in a name reached the list: %q", got)
	}
	if got := List(nil, "", name); got != "no file transfers" {
		t.Errorf("empty list: %q", got)
	}
}

func TestBatches(t *testing.T) {
	var b Batches
	if _, ok := b.Update(filexfer.Transfer{ID: "x", Dir: filexfer.Send}); ok {
		t.Fatal("a transfer without a batch was summed")
	}
	tr := func(id string, st filexfer.State, done int64) filexfer.Transfer {
		return filexfer.Transfer{ID: id, Dir: filexfer.Send, Name: "a\x1b[2J.txt", Size: 100, Done: done, State: st, Group: "g", Batch: "b"}
	}
	b.Update(tr("1", filexfer.StateActive, 40))
	b.Update(tr("2", filexfer.StateOffered, 0))
	s, _ := b.Update(tr("3", filexfer.StateFailed, 0))
	if got, want := s.String(), "a.txt to 3 members: 1 sending, 1 waiting for an answer, 1 did not get it (40%)"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if act := b.Active("g"); len(act) != 1 || act[0].Moved != 40 {
		t.Fatalf("active %+v", act)
	}
	b.Update(tr("1", filexfer.StateDone, 100))
	b.Update(tr("2", filexfer.StateExpired, 0))
	if len(b.m) != 0 {
		t.Fatalf("a batch whose transfers all ended is kept: %+v", b.m)
	}
}
