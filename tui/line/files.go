package line

import (
	"context"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/groupcmd"
	"github.com/parlance-chat/parlance/tui/textsafe"
	"github.com/parlance-chat/parlance/tui/xfer"
)

// fileCommand runs /sendfile, /accept, /reject, /cancel and /transfers.
// /sendfile waits until the file is hashed and the peer has the offer, so
// that a script's next line comes after it.
func (u *UI) fileCommand(ctx context.Context, c command.Command) {
	f, ok := u.node.(xfer.Files)
	if !ok {
		u.printf("error: %v", xfer.ErrOff)
		return
	}
	switch c.Kind {
	case command.SendFile:
		if strings.HasPrefix(c.Target, "#") {
			u.sendFileToGroup(ctx, f, c.Target, c.Text)
			return
		}
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

// sendFileToGroup is /sendfile #name <path>: the file is offered to
// each member; it returns once every online member has the offer.
func (u *UI) sendFileToGroup(ctx context.Context, f xfer.Files, name, path string) {
	info, ok := u.resolveGroup(name)
	if !ok {
		return
	}
	u.printf("* hashing and offering %s to each member of #%s…", textsafe.Line(path), textsafe.Line(info.Name))
	if _, err := f.SendFileToGroup(ctx, info.Key, path); err != nil {
		u.printf("error: %s", textsafe.Line(err.Error()))
	}
}

// transfers lists the transfers, oldest first.
func (u *UI) transfers(ts []filexfer.Transfer) {
	u.printf("* %s", xfer.List(ts, "  ", u.peerName))
}

// peerName names a peer, or a group ("#team"), by key ("" when unknown).
func (u *UI) peerName(key app.PeerKey) string {
	if g, ok := u.node.(groupcmd.Node); ok && app.IsGroupKey(key) {
		if info, ok := g.Group(key); ok {
			return "#" + info.Name
		}
		return ""
	}
	if key == "" {
		return ""
	}
	if p, ok := u.node.Peer(key); ok {
		return u.name(p)
	}
	return ""
}

// transferPeer is "to bob" or "from alice".
func (u *UI) transferPeer(t filexfer.Transfer) string {
	return xfer.Who(t, u.peerName(xfer.PeerKey(t)))
}

// transferEvent prints a transfer's change: progress at most once a
// second per transfer, everything else at once, failures as warnings.
func (u *UI) transferEvent(e app.TransferChanged) {
	sum, inBatch := u.batches.Update(e.Transfer)
	if inBatch && e.Kind == filexfer.EventProgress {
		// A file sent to a group: one line a second for all its members.
		batch := filexfer.Event{Kind: e.Kind, Transfer: filexfer.Transfer{ID: "batch " + e.Transfer.Batch}}
		if u.xfer.Allow(batch, u.now()) {
			u.printf("* file %s", sum)
		}
		return
	}
	if !u.xfer.Allow(filexfer.Event{Kind: e.Kind, Transfer: e.Transfer}, u.now()) {
		return
	}
	mark := "*"
	if e.Kind == filexfer.EventFailed {
		mark = "!"
	}
	where := ""
	if g, ok := u.node.(groupcmd.Node); ok && app.IsGroupKey(e.Peer) {
		where = " in " + u.groupName(g, e.Peer)
	}
	text := filexfer.FormatEvent(filexfer.Event{Kind: e.Kind, Transfer: e.Transfer})
	u.printf("%s file %s%s: %s", mark, u.transferPeer(e.Transfer), where, textsafe.Line(text))
}
