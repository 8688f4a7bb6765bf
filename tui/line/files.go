package line

import (
	"context"
	"fmt"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// Files is what the file commands need from the node (app.Node has it). A
// node without it answers them with an error.
type Files interface {
	SendFile(ctx context.Context, key app.PeerKey, path string) (filexfer.Transfer, error)
	AcceptFile(id string) (filexfer.Transfer, error)
	RejectFile(id string) (filexfer.Transfer, error)
	CancelFile(id string) (filexfer.Transfer, error)
	Transfers() []filexfer.Transfer
}

// fileCommand runs /sendfile, /accept, /reject, /cancel and /transfers.
// /sendfile waits until the file is hashed and the peer has the offer, so
// that a script's next line comes after it.
func (u *UI) fileCommand(ctx context.Context, c command.Command) {
	f, ok := u.node.(Files)
	if !ok {
		u.printf("error: file transfer is off")
		return
	}
	switch c.Kind {
	case command.SendFile:
		p, ok := u.resolve(c.Target)
		if !ok {
			return
		}
		u.printf("* hashing and offering %s to %s…", textsafe.Line(c.Text), u.name(p))
		if _, err := f.SendFile(ctx, p.Key, c.Text); err != nil {
			u.printf("error: %s", textsafe.Line(err.Error()))
		}
		// The engine's event says "offered … waiting for an answer".
	case command.Accept, command.Reject, command.Cancel:
		do := map[command.Kind]func(string) (filexfer.Transfer, error){
			command.Accept: f.AcceptFile, command.Reject: f.RejectFile, command.Cancel: f.CancelFile,
		}[c.Kind]
		if _, err := do(c.Target); err != nil {
			u.printf("error: %s", textsafe.Line(err.Error()))
		}
	case command.Transfers:
		u.transfers(f.Transfers())
	}
}

// transfers lists the transfers, oldest first.
func (u *UI) transfers(ts []filexfer.Transfer) {
	if len(ts) == 0 {
		u.printf("* no file transfers")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* %d file transfer(s):", len(ts))
	for _, t := range ts {
		state := string(t.State)
		switch {
		case t.State == filexfer.StateActive:
			state = filexfer.FormatProgress(t)
			state = strings.TrimPrefix(state, t.Name+": ")
		case t.Error != "":
			state += " (" + t.Error + ")"
		}
		fmt.Fprintf(&b, "\n  %s  %s  %s  %s  %s", filexfer.ShortID(t.ID), u.transferPeer(t), t.Name, filexfer.FormatBytes(t.Size), state)
	}
	u.printf("%s", textsafe.Sanitize(b.String(), true))
}

// transferPeer is "to bob" or "from alice".
func (u *UI) transferPeer(t filexfer.Transfer) string {
	name := t.Peer
	if p, ok := u.node.Peer(app.PeerKey("id:" + t.Peer)); ok {
		name = u.name(p)
	} else {
		name = filexfer.ShortID(name)
	}
	if t.Dir == filexfer.Send {
		return "to " + name
	}
	return "from " + name
}

// transferEvent prints a transfer's change: progress at most once a
// second per transfer, everything else at once, failures as warnings.
func (u *UI) transferEvent(e app.TransferChanged) {
	if !u.xfer.Allow(filexfer.Event{Kind: e.Kind, Transfer: e.Transfer}, u.now()) {
		return
	}
	mark := "*"
	if e.Kind == filexfer.EventFailed {
		mark = "!"
	}
	text := filexfer.FormatEvent(filexfer.Event{Kind: e.Kind, Transfer: e.Transfer})
	u.printf("%s file %s: %s", mark, u.transferPeer(e.Transfer), textsafe.Line(text))
}
