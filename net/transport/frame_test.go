package transport

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/parlance-chat/parlance/net/wire"
)

// TestSendFrameCarriesGroupFrames: group frames written with SendFrame
// arrive as Inbound.Group with the sender's proven identity, in order
// with the chat messages on the same connection; a peer without an
// identity is never sent one.
func TestSendFrameCarriesGroupFrames(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	ctx := context.Background()
	sync := wire.GroupSync{Group: wire.GroupID{7}, Want: []wire.SeqRange{{Sender: alice.id.ID().String(), From: 3}}}
	line, err := wire.MarshalGroupFrame(sync)
	if err != nil {
		t.Fatal(err)
	}
	two := append(append([]byte{}, line...), line...)
	if err := alice.SendFrame(ctx, bob.dest(), two); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(ctx, bob.dest(), msg("alice", "after")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		in := bob.recv(t)
		if !reflect.DeepEqual(in.Group, sync) || in.Identity != alice.id.ID().String() || in.Message.Content != "" {
			t.Fatalf("got %+v, want the group frame from alice", in)
		}
	}
	if in := bob.recv(t); in.Message.Content != "after" {
		t.Fatalf("got %+v, want the chat message", in)
	}

	if err := alice.SendFrame(ctx, Dest{Addr: bob.addr()}, line); !errors.Is(err, ErrNotTwoWay) {
		t.Errorf("SendFrame to an original peer: %v, want ErrNotTwoWay", err)
	}
	if err := alice.SendFrame(ctx, bob.dest(), line[:len(line)-1]); err == nil {
		t.Error("SendFrame took a line without its newline")
	}
}
