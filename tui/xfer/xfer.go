// Package xfer is what both UIs share about file transfers: the node's
// file methods they call, and how a transfer is named and listed.
package xfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// Files is what the file commands need from the node (app.Node has it).
// A UI whose node lacks it answers them with ErrOff.
type Files interface {
	SendFile(ctx context.Context, key app.PeerKey, path string) (filexfer.Transfer, error)
	AcceptFile(id string) (filexfer.Transfer, error)
	RejectFile(id string) (filexfer.Transfer, error)
	CancelFile(id string) (filexfer.Transfer, error)
	Transfers() []filexfer.Transfer
}

// ErrOff is the answer to a file command when the node has no file
// transfer.
var ErrOff = fmt.Errorf("file transfer is off")

// PeerKey is the key of a transfer's peer.
func PeerKey(t filexfer.Transfer) app.PeerKey { return app.PeerKey("id:" + t.Peer) }

// Who is "to bob" or "from alice"; name is the peer's name as the UI
// shows it ("" when unknown: the start of its ID is shown).
func Who(t filexfer.Transfer, name string) string {
	if name == "" {
		name = filexfer.ShortID(t.Peer)
	}
	if t.Dir == filexfer.Send {
		return "to " + name
	}
	return "from " + name
}

// List is the /transfers text: a heading and one line a transfer, each
// line started with indent. name names a peer (see Who). The text is
// sanitised for the terminal.
func List(ts []filexfer.Transfer, indent string, name func(app.PeerKey) string) string {
	if len(ts) == 0 {
		return "no file transfers"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d file transfer(s):", len(ts))
	for _, t := range ts {
		state := string(t.State)
		switch {
		case t.State == filexfer.StateActive:
			state = strings.TrimPrefix(filexfer.FormatProgress(t), t.Name+": ")
		case t.Error != "":
			state += " (" + t.Error + ")"
		}
		fmt.Fprintf(&b, "\n%s%s  %s  %s  %s  %s", indent, filexfer.ShortID(t.ID), Who(t, name(PeerKey(t))), t.Name, filexfer.FormatBytes(t.Size), state)
	}
	return textsafe.Sanitize(b.String(), true)
}
