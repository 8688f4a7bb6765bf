// Package xfer is what both UIs share about file transfers: the node's
// file methods they call, and how a transfer is named and listed.
package xfer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// Files is what the file commands need from the node (app.Node has it).
// A UI whose node lacks it answers them with ErrOff.
type Files interface {
	SendFile(ctx context.Context, key app.PeerKey, path string) (filexfer.Transfer, error)
	SendFileToGroup(ctx context.Context, key app.PeerKey, path string) ([]filexfer.Transfer, error)
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

// GroupKey is the key of the group a transfer was offered in ("" for
// none).
func GroupKey(t filexfer.Transfer) app.PeerKey {
	if t.Group == "" {
		return ""
	}
	return app.PeerKey(app.GroupKeyPrefix + t.Group)
}

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
// line started with indent. name names a peer (see Who), or a group by
// its key ("#team"; "" for none or unknown: a transfer offered in a group
// then says "to bob in #team"). The text is sanitised for the terminal.
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
		who := Who(t, name(PeerKey(t)))
		if g := name(GroupKey(t)); g != "" {
			who += " in " + g
		}
		fmt.Fprintf(&b, "\n%s%s  %s  %s  %s  %s", indent, filexfer.ShortID(t.ID), who, t.Name, filexfer.FormatBytes(t.Size), state)
	}
	return textsafe.Sanitize(b.String(), true)
}

// Batches follows the transfers of the files sent to groups (one
// transfer a member, tied by Transfer.Batch) and sums them up per file, so
// a UI shows one line for the lot. Not safe for concurrent use.
type Batches struct {
	m map[string]map[string]filexfer.Transfer // batch → transfer id → latest
}

// Summary is a group send at a glance.
type Summary struct {
	Name                                    string
	Members                                 int // transfers in the batch
	Active, Waiting, Queued, Done, Failures int // Waiting: offered, not answered yet
	Moved, Size                             int64
	Rate                                    float64
}

// Update records t and returns the summary of its batch; ok is false when
// t is not part of one. A batch is forgotten once every transfer in it
// has ended.
func (b *Batches) Update(t filexfer.Transfer) (s Summary, ok bool) {
	if t.Batch == "" || t.Dir != filexfer.Send {
		return Summary{}, false
	}
	if b.m == nil {
		b.m = make(map[string]map[string]filexfer.Transfer)
	}
	ts := b.m[t.Batch]
	if ts == nil {
		ts = make(map[string]filexfer.Transfer)
		b.m[t.Batch] = ts
	}
	ts[t.ID] = t
	s = summarize(ts)
	if s.Active+s.Waiting+s.Queued == 0 {
		delete(b.m, t.Batch)
	}
	return s, true
}

// Active returns the summaries of the batches sent in group (the group's
// id, Transfer.Group) that have bytes to move, by name.
func (b *Batches) Active(group string) []Summary {
	var out []Summary
	for _, ts := range b.m {
		for _, t := range ts {
			if t.Group == group {
				if s := summarize(ts); s.Active > 0 {
					out = append(out, s)
				}
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func summarize(ts map[string]filexfer.Transfer) Summary {
	var s Summary
	for _, t := range ts {
		s.Name = t.Name
		s.Members++
		switch t.State {
		case filexfer.StateActive:
			s.Active++
			s.Moved += t.Done
			s.Size += t.Size
			s.Rate += t.Rate
		case filexfer.StateOffered:
			s.Waiting++
		case filexfer.StateQueued:
			s.Queued++
		case filexfer.StateDone:
			s.Done++
		default:
			s.Failures++
		}
	}
	return s
}

// Fraction is how much of the active transfers' bytes have moved.
func (s Summary) Fraction() float64 {
	if s.Size == 0 {
		return 0
	}
	return float64(s.Moved) / float64(s.Size)
}

// Counts is "1 done, 2 sending, 1 waiting, 1 queued, 1 ended otherwise"
// (the parts that are not zero).
func (s Summary) Counts() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{s.Done, "done"}, {s.Active, "sending"}, {s.Waiting, "waiting for an answer"}, {s.Queued, "queued (offline)"}, {s.Failures, "did not get it"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// String is a line for line mode: "plan.pdf to 3 members: 1 done, 2
// sending (40%, 12.0 MB/s)". The text is sanitised for the terminal.
func (s Summary) String() string {
	line := fmt.Sprintf("%s to %d members: %s", s.Name, s.Members, s.Counts())
	if s.Active > 0 {
		line += fmt.Sprintf(" (%.0f%%", s.Fraction()*100)
		if s.Rate > 0 {
			line += ", " + filexfer.FormatBytes(int64(s.Rate)) + "/s"
		}
		line += ")"
	}
	return textsafe.Line(line)
}
