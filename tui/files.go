package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/textsafe"
	"github.com/parlance-chat/parlance/tui/xfer"
)

// maxTransferLines bounds the progress lines under a conversation.
const maxTransferLines = 3

// transfers are the file transfers not over yet, as the last event of
// each showed them.
type transfers struct {
	active  map[string]app.TransferChanged // by transfer id
	batches xfer.Batches                   // files sent to groups
}

// sendFileResultMsg is the outcome of Node.SendFile.
type sendFileResultMsg struct {
	key  app.PeerKey
	name string
	err  error
}

// runFile carries out /sendfile, /accept, /reject, /cancel and /transfers.
func (m *Model) runFile(cmd command.Command) (tea.Cmd, error) {
	f, ok := m.node.(xfer.Files)
	if !ok {
		return nil, xfer.ErrOff
	}
	switch cmd.Kind {
	case command.SendFile:
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		ctx, key, name, path := m.ctx, it.peer.Key, it.name, cmd.Text
		if it.group {
			m.addLine(m.conv(key, it.peer.Nickname), kindSystem, "· hashing and offering "+textsafe.Line(path)+" to each member of "+name+"…")
			return func() tea.Msg {
				_, err := f.SendFileToGroup(ctx, key, path)
				return sendFileResultMsg{key: key, name: name, err: err}
			}, nil
		}
		if it.peer.Original() {
			return nil, fmt.Errorf("%s: %w", it.name, app.ErrOriginalNoFiles)
		}
		m.addLine(m.conv(key, it.peer.Nickname), kindSystem, "· hashing and offering "+textsafe.Line(path)+" to "+name+"…")
		return func() tea.Msg {
			_, err := f.SendFile(ctx, key, path)
			return sendFileResultMsg{key: key, name: name, err: err}
		}, nil
	case command.Accept:
		_, err := f.AcceptFile(cmd.Target)
		return nil, err
	case command.Reject:
		_, err := f.RejectFile(cmd.Target)
		return nil, err
	case command.Cancel:
		_, err := f.CancelFile(cmd.Target)
		return nil, err
	case command.Transfers:
		m.say(kindInfo, m.transfersText(f.Transfers()))
		return nil, nil
	}
	return nil, fmt.Errorf("command not available here")
}

// handleSendFileResult reports an offer that could not be made.
func (m *Model) handleSendFileResult(msg sendFileResultMsg) {
	if msg.err == nil {
		return // the offer's event says the rest
	}
	line := "✗ file not offered to " + msg.name + ": " + textsafe.Line(msg.err.Error())
	m.addLine(m.conv(msg.key, ""), kindError, line)
	if m.list.sel != msg.key {
		m.say(kindError, line)
	}
}

// transfersText lists every transfer for /transfers.
func (m *Model) transfersText(ts []filexfer.Transfer) string {
	return "· " + xfer.List(ts, "", m.peerName)
}

// peerName names a peer by key as the list does ("" when unknown).
func (m *Model) peerName(key app.PeerKey) string {
	if it, ok := m.list.item(key); ok {
		return it.name
	}
	if c, ok := m.convs[key]; ok && c.nick != "" {
		return textsafe.Name(c.nick)
	}
	return ""
}

// transferPeer is "to bob" or "from alice".
func (m *Model) transferPeer(t filexfer.Transfer) string {
	return xfer.Who(t, m.peerName(xfer.PeerKey(t)))
}

// transferChanged applies a transfer event: offers, starts and ends are
// lines in the peer's conversation; progress only redraws its bar.
func (m *Model) transferChanged(ev app.TransferChanged) {
	if m.xfers == nil {
		m.xfers = &transfers{active: map[string]app.TransferChanged{}}
	}
	t := ev.Transfer
	switch t.State {
	case filexfer.StateActive, filexfer.StateOffered, filexfer.StateQueued:
		m.xfers.active[t.ID] = ev
	default:
		delete(m.xfers.active, t.ID)
	}
	m.xfers.batches.Update(t)
	if ev.Kind == filexfer.EventProgress {
		return
	}
	kind, mark := kindSystem, "· "
	switch ev.Kind {
	case filexfer.EventFailed:
		kind, mark = kindWarning, "⚠ "
	case filexfer.EventDone:
		mark = "✓ "
	}
	text := filexfer.FormatEvent(filexfer.Event{Kind: ev.Kind, Transfer: t})
	line := mark + "file " + m.transferPeer(t) + ": " + textsafe.Line(text)
	m.addLine(m.conv(ev.Peer, ""), kind, line)
	// An offer to answer, or an outcome, is also said where the user is
	// looking (progress is not).
	if m.list.sel != ev.Peer && ev.Kind != filexfer.EventStarted && (ev.Kind != filexfer.EventOffered || t.Dir == filexfer.Receive) {
		m.say(kind, line)
	}
}

// activeTransfers counts the transfers with bytes to move (for the status
// line).
func (m *Model) activeTransfers() int {
	if m.xfers == nil {
		return 0
	}
	n := 0
	for _, ev := range m.xfers.active {
		if ev.Transfer.State == filexfer.StateActive {
			n++
		}
	}
	return n
}

// transferStatus is the status line's part about transfers.
func (m *Model) transferStatus() string {
	switch n := m.activeTransfers(); n {
	case 0:
		return ""
	case 1:
		return "1 transfer"
	default:
		return fmt.Sprintf("%d transfers", n)
	}
}

// transferLines are the progress bars of a conversation's active
// transfers, drawn under it: "↓ photo.jpg ███░░░ 24% 8.1 MB/s 5s left".
func (m *Model) transferLines(key app.PeerKey, width int) []string {
	if m.xfers == nil || width < 20 {
		return nil
	}
	var out []string
	if app.IsGroupKey(key) { // a file sent to the group: one bar for all its members
		for _, s := range m.xfers.batches.Active(strings.TrimPrefix(string(key), app.GroupKeyPrefix)) {
			out = append(out, m.barLine("↑ ", s.Name, s.Fraction(), s.Rate, 0, fmt.Sprintf(" · %d members: %s", s.Members, s.Counts()), width))
		}
	}
	var evs []app.TransferChanged
	for _, ev := range m.xfers.active {
		if ev.Peer == key && ev.Transfer.State == filexfer.StateActive && ev.Transfer.Batch == "" {
			evs = append(evs, ev)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Transfer.Created.Before(evs[j].Transfer.Created) })
	for i, ev := range evs {
		if i == maxTransferLines {
			out = append(out, fmt.Sprintf("… and %d more: /transfers", len(evs)-i))
			break
		}
		out = append(out, m.transferLine(ev.Transfer, width))
	}
	return out
}

// transferLine is one transfer's bar with its name, rate and ETA.
func (m *Model) transferLine(t filexfer.Transfer, width int) string {
	arrow := "↓ "
	if t.Dir == filexfer.Send {
		arrow = "↑ "
	}
	pct := 0.0
	if t.Size > 0 {
		pct = float64(t.Done) / float64(t.Size)
	}
	return m.barLine(arrow, t.Name, pct, t.Rate, t.ETA, "", width)
}

// barLine is "↓ name ███░░░ 24% 8.1 MB/s 5s left" and a note, cut to width.
func (m *Model) barLine(arrow, name string, pct, rate float64, eta time.Duration, note string, width int) string {
	name = truncate(textsafe.Line(name), 24)
	tail := fmt.Sprintf(" %3.0f%%", pct*100)
	if rate > 0 {
		tail += " " + filexfer.FormatBytes(int64(rate)) + "/s"
	}
	if eta > 0 {
		tail += " " + eta.String() + " left"
	}
	tail += textsafe.Line(note)
	barW := width - textWidth(arrow+name+" ") - textWidth(tail)
	if barW < 5 {
		return truncate(arrow+name+tail, width)
	}
	bar := progress.New(progress.WithWidth(barW), progress.WithoutPercentage(),
		progress.WithSolidFill("6"), progress.WithColorProfile(m.st.r.ColorProfile()))
	return arrow + name + " " + bar.ViewAs(pct) + tail
}
