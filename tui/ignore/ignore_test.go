package ignore

import (
	"testing"

	"github.com/parlance-chat/parlance/app"
)

func TestList(t *testing.T) {
	l := New()
	bob, carol := app.PeerKey("id:BOB"), app.PeerKey("id:CAROL")
	if l.Drop(bob) {
		t.Fatal("a peer not ignored is dropped")
	}
	if !l.Add(bob) || l.Add(bob) {
		t.Fatal("Add: want true, then false for a peer already ignored")
	}
	for range 3 {
		if !l.Drop(bob) {
			t.Fatal("an ignored peer's message is not dropped")
		}
	}
	if l.Drop(carol) || !l.Has(bob) || l.Has(carol) {
		t.Fatal("only bob is ignored")
	}
	if got := l.Dropped(bob); got != 3 {
		t.Fatalf("Dropped = %d, want 3", got)
	}
	if keys := l.Keys(); len(keys) != 1 || keys[0] != bob {
		t.Fatalf("Keys = %v", keys)
	}
	if n, ok := l.Remove(bob); !ok || n != 3 {
		t.Fatalf("Remove = %d, %v; want 3, true", n, ok)
	}
	if _, ok := l.Remove(bob); ok || l.Drop(bob) {
		t.Fatal("bob is still ignored after Remove")
	}
}
