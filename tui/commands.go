package tui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/parlance-chat/parlance/tui/textsafe"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/tui/command"
)

// completeLine offers the completions of a partly typed input line.
// The path of /sendfile completes from the file system.
func completeLine(line string, names []string) []string {
	if paths, ok := command.CompletePath(line, os.ReadDir); ok {
		return paths
	}
	return command.Complete(line, names)
}

// sendResultMsg is the outcome of Node.Send for a message shown as pending.
type sendResultMsg struct {
	key   app.PeerKey
	local int    // local id of the pending entry
	text  string // the message, for the error line if its entry is gone
	msg   app.Message
	err   error
}

// nickResultMsg is the outcome of Node.SetNickname.
type nickResultMsg struct {
	name string
	err  error
}

// verifyResultMsg is the outcome of Node.MarkVerified.
type verifyResultMsg struct {
	key  app.PeerKey
	name string
	err  error
}

// errNoSelection is shown when text is typed with no peer selected.
var errNoSelection = errors.New("no peer selected: pick one with alt+↓ or ctrl+n, or use /msg <nick> or /send <nick> <message>")

// submit runs the input: a message to the selected peer or a slash
// command. The input is emptied either way and the line goes into the
// conversation's history, so a line that fails is one ↑ away and the
// next command does not run into it.
func (m *Model) submit() tea.Cmd {
	line := m.input.Value()
	if strings.TrimSpace(line) == "" {
		return nil
	}
	m.clearInput()
	m.comp = nil
	cmd, err := command.Parse(line)
	if err == nil {
		var out tea.Cmd
		if out, err = m.run(cmd); err == nil {
			return out
		}
	}
	m.say(kindError, "✗ "+err.Error()+" (↑ brings the line back)")
	return nil
}

// run carries out one parsed command.
func (m *Model) run(cmd command.Command) (tea.Cmd, error) {
	switch cmd.Kind {
	case command.Text:
		it, ok := m.list.selected()
		if !ok {
			return nil, errNoSelection
		}
		if it.group {
			return m.sendGroup(it, cmd.Text)
		}
		return m.send(it, cmd.Text), nil

	case command.Me:
		it, ok := m.list.selected()
		if !ok {
			return nil, errNoSelection
		}
		if it.group {
			return m.sendGroup(it, command.Action(cmd.Text))
		}
		return m.send(it, command.Action(cmd.Text)), nil

	case command.Ignore:
		return nil, m.ignore(cmd.Target)

	case command.Unignore:
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		n, ok := m.ignored.Remove(it.peer.Key)
		if !ok {
			return nil, fmt.Errorf("%s is not ignored", it.name)
		}
		m.say(kindSystem, fmt.Sprintf("· %s is no longer ignored (%s dropped meanwhile)", it.name, fmtCount(n, "message")))
		return nil, nil

	case command.Close:
		return nil, m.closeConversation(cmd.Target)

	case command.Send:
		// "/send Mary Ann hi": the longest leading words that name a
		// peer are the target.
		cmd.PreferKnownTarget(m.knownName)
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		if it.peer.Key != m.list.sel {
			m.say(kindSystem, "→ to "+it.name+": "+excerpt(textsafe.Line(cmd.Text), 60))
		}
		if it.group {
			return m.sendGroup(it, cmd.Text)
		}
		return m.send(it, cmd.Text), nil

	case command.Select:
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		delete(m.closed, it.peer.Key)
		if _, listed := m.list.index[it.peer.Key]; !listed {
			m.conv(it.peer.Key, it.peer.Nickname)
			m.refreshPeers()
		}
		m.selectKey(it.peer.Key)
		return nil, nil

	case command.Peers:
		m.say(kindInfo, m.peersText())
		return nil, nil

	case command.Nick:
		node, name := m.node, cmd.Target
		return func() tea.Msg { return nickResultMsg{name: name, err: node.SetNickname(name)} }, nil

	case command.Clear:
		m.current().clear()
		return nil, nil

	case command.Search:
		return nil, m.runSearch(cmd.Text)

	case command.Outbox:
		text, err := m.outboxText()
		if err != nil {
			return nil, err
		}
		m.say(kindInfo, text)
		return nil, nil

	case command.History:
		// The conversation is the history: open it, with the last N.
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		m.selectKey(it.peer.Key)
		c := m.current()
		for c.messages < cmd.Count && m.loadOlder(c) {
		}
		return nil, nil

	case command.Resend:
		c := m.current()
		if cmd.Target != "" {
			it, err := m.resolve(cmd.Target)
			if err != nil {
				return nil, err
			}
			c = m.conv(it.peer.Key, it.peer.Nickname)
		}
		n := m.resendFailed(c)
		m.say(kindInfo, fmt.Sprintf("· %d failed message(s) queued again", n))
		return nil, nil

	case command.SendFile, command.Accept, command.Reject, command.Cancel, command.Transfers:
		return m.runFile(cmd)

	case command.Help:
		m.openHelp()
		return nil, nil

	case command.Quit:
		return m.quitSaved(), nil

	case command.ID:
		if m.self.Identity == "" {
			m.say(kindInfo, "· you have no identity: this node runs unencrypted")
			return nil, nil
		}
		m.say(kindInfo, "· your ID: "+identity.ID(m.self.Identity).Grouped()+"\nothers see it with /whois "+textsafe.Name(m.self.Nickname)+" and can compare it with you")
		return nil, nil

	case command.Whois:
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		m.say(kindInfo, m.whoisText(it))
		return nil, nil

	case command.Verify:
		it, err := m.resolve(cmd.Target)
		if err != nil {
			return nil, err
		}
		if it.peer.Original() && it.known {
			return nil, fmt.Errorf("%s uses an original client without encryption: there is no key to verify", it.name)
		}
		if cmd.Confirm {
			node, key, name := m.node, it.peer.Key, it.name
			return func() tea.Msg { return verifyResultMsg{key: key, name: name, err: node.MarkVerified(key)} }, nil
		}
		code, err := m.node.SafetyCode(it.peer.Key)
		if err != nil {
			return nil, fmt.Errorf("safety code for %s: %w", it.name, err)
		}
		m.say(kindInfo, "· safety code with "+it.name+": "+textsafe.Line(code)+
			"\nCompare it with "+textsafe.Name(it.peer.Nickname)+" in person or on a call you trust; they see the same code. "+
			"If it matches, type /verify "+it.name+" confirm.")
		return nil, nil

	case command.Group, command.Groups:
		return nil, m.runGroup(cmd)
	}
	return nil, fmt.Errorf("command not available here")
}

// resolve finds the one peer a name means, or says why there is none. A
// name as the list shows it (what Tab completes, tag and all) means that
// row; anything else is asked of the node.
func (m *Model) resolve(name string) (peerItem, error) {
	if it, ok := m.rowNamed(name); ok {
		return it, nil
	}
	peers := m.node.Resolve(name)
	switch len(peers) {
	case 1:
		if it, ok := m.list.item(peers[0].Key); ok {
			return it, nil
		}
		p := peers[0]
		return peerItem{peer: p, known: true, name: textsafe.Name(p.Nickname)}, nil
	case 0:
		return peerItem{}, fmt.Errorf("no peer called %q; /peers lists them", textsafe.Name(name))
	}
	choices := make([]string, len(peers))
	for i, p := range peers {
		choices[i] = textsafe.Name(p.Nickname) + "#" + tagOf(p)
	}
	return peerItem{}, fmt.Errorf("%q is ambiguous, say which: %s", textsafe.Name(name), strings.Join(choices, ", "))
}

// rowNamed finds the one row whose name (as shown) is name, ignoring case.
func (m *Model) rowNamed(name string) (peerItem, bool) {
	var found peerItem
	n := 0
	for _, it := range m.list.items {
		if strings.EqualFold(it.name, name) {
			found = it
			n++
		}
	}
	return found, n == 1
}

// knownName reports whether name means at least one peer.
func (m *Model) knownName(name string) bool {
	if _, ok := m.rowNamed(name); ok {
		return true
	}
	return len(m.node.Resolve(name)) > 0
}

// send shows the message as being sent at once and commits it to the
// outbox in a command (Node.Send returns as soon as it is stored); its
// delivery state (queued, ✓, ✓✓, failed) then comes from the store. A peer
// that is offline is no error: the message waits for it. Nothing typed is
// lost: a message the node refuses stays visible, marked, with an error
// line.
func (m *Model) send(it peerItem, text string) tea.Cmd {
	key := it.peer.Key
	c := m.conv(key, it.peer.Nickname)
	c.talked = m.activity
	m.nextLocal++
	local := m.nextLocal
	msgID := app.NewMessageID()
	c.pending[local] = c.add(entry{
		kind:  kindOut,
		at:    m.now(),
		from:  textsafe.Name(m.self.Nickname),
		text:  textsafe.Sanitize(text, true),
		state: sendPending,
		id:    msgID,
	}, m.loc)
	c.follow = true
	if m.stopped {
		m.handleSendResult(sendResultMsg{key: key, local: local, text: text, err: net.ErrClosed})
		return nil
	}
	node, ctx := m.node, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		sent, err := node.SendWithID(ctx, key, msgID, text)
		return sendResultMsg{key: key, local: local, text: text, msg: sent, err: err}
	}
}

// handleSendResult marks a message stored (queued) or refused. A refusal
// gets an error line in the conversation, and in the one in view if that
// is another.
func (m *Model) handleSendResult(msg sendResultMsg) {
	c := m.conv(msg.key, "")
	if msg.err == nil {
		if i, ok := c.pending[msg.local]; ok {
			delete(c.pending, msg.local)
			if c.entries[i].state == sendPending { // the store's changes may have come first
				c.entries[i].state, c.entries[i].mstate, c.entries[i].seq = sendStored, msg.msg.State, msg.msg.Seq
				c.entries[i].wrapW = 0
			}
		}
		return
	}
	m.log.Warn("send failed", "peer", msg.key, "err", msg.err)
	name := textsafe.Name(c.nick)
	if it, ok := m.list.item(msg.key); ok {
		name = it.name
	}
	line := "✗ not sent to " + name
	if !c.setState(msg.local, sendFailed) {
		line += " (“" + excerpt(textsafe.Line(msg.text), 30) + "”)"
	}
	line += ": " + sendErrorText(name, msg.err)
	m.addLine(c, kindError, line)
	if m.list.sel != msg.key {
		m.say(kindError, line)
	}
}

func (m *Model) handleNickResult(msg nickResultMsg) {
	if msg.err != nil {
		m.say(kindError, "✗ cannot change nickname to "+textsafe.Name(msg.name)+": "+msg.err.Error())
		return
	}
	m.setSelf(m.node.Self())
}

func (m *Model) handleVerifyResult(msg verifyResultMsg) {
	c := m.conv(msg.key, "")
	if msg.err != nil {
		m.addLine(c, kindError, "✗ cannot mark "+msg.name+" verified: "+msg.err.Error())
		if m.list.sel != msg.key {
			m.say(kindError, "✗ cannot mark "+msg.name+" verified: "+msg.err.Error())
		}
		return
	}
	m.refreshPeers()
	m.addLine(c, kindSystem, "✓ "+msg.name+" is marked verified")
	if m.list.sel != msg.key {
		m.say(kindSystem, "✓ "+msg.name+" is marked verified")
	}
}

// peersText lists every peer for /peers.
func (m *Model) peersText() string {
	if len(m.list.items) == 0 {
		return "· no peers yet"
	}
	var b strings.Builder
	noun := "peers"
	if len(m.list.items) == 1 {
		noun = "peer"
	}
	fmt.Fprintf(&b, "· %d %s, %d online:", len(m.list.items), noun, m.list.online())
	for _, it := range m.list.items {
		dot := "○"
		switch {
		case it.peer.Online && it.peer.Unconfirmed:
			dot = "?"
		case it.peer.Online:
			dot = "●"
		}
		b.WriteString("\n" + dot + " " + it.name)
		var facts []string
		if it.peer.Online && it.peer.Unconfirmed {
			facts = append(facts, unconfirmedText)
		}
		if it.peer.Source != "" {
			facts = append(facts, it.peer.Source)
		}
		if a := addrText(it.peer); a != "" {
			facts = append(facts, a)
		}
		if it.known {
			facts = append(facts, strings.TrimLeft(trustText(it.peer.Trust), "!✓⚠ "))
		} else {
			facts = append(facts, "not discovered")
		}
		if !it.peer.Online && !it.peer.LastSeen.IsZero() {
			facts = append(facts, "last seen "+it.peer.LastSeen.In(m.loc).Format("2 Jan 15:04"))
		}
		b.WriteString(" — " + strings.Join(facts, ", "))
	}
	return b.String()
}

// unconfirmedText explains the "?" of a peer online but unconfirmed.
const unconfirmedText = "unconfirmed: the bootstrap server has not listed it since the connection came back"

// whoisText describes one peer for /whois.
func (m *Model) whoisText(it peerItem) string {
	p := it.peer
	var b strings.Builder
	b.WriteString("· " + it.name)
	if p.Identity != "" {
		b.WriteString("\nID: " + identity.ID(p.Identity).Grouped())
	} else {
		b.WriteString("\nID: none (original client, unencrypted)")
	}
	if a := addrText(p); a != "" {
		b.WriteString("\naddress: " + a)
		if p.AltAddr.IsValid() {
			b.WriteString(" (also " + p.AltAddr.String() + ")")
		}
	}
	if p.Source != "" {
		b.WriteString("\nfound on: " + p.Source)
	}
	if p.Online && p.Identity != "" {
		b.WriteString("\nconnection: " + pathText(p))
	}
	if it.known {
		b.WriteString("\ntrust: " + strings.TrimLeft(trustText(p.Trust), "!✓⚠ "))
	}
	switch {
	case p.Online && p.Unconfirmed:
		b.WriteString("\nonline, " + unconfirmedText)
	case p.Online:
		b.WriteString("\nonline")
	case !p.LastSeen.IsZero():
		b.WriteString("\noffline, last seen " + p.LastSeen.In(m.loc).Format("2 Jan 2006 15:04"))
	default:
		b.WriteString("\noffline")
	}
	return b.String()
}

// ignore adds a peer to the ignored ones, or lists them when name is "".
func (m *Model) ignore(name string) error {
	if name == "" {
		keys := m.ignored.Keys()
		if len(keys) == 0 {
			m.say(kindInfo, "· nobody is ignored; /ignore <nick> drops a peer's messages")
			return nil
		}
		var b strings.Builder
		b.WriteString("· ignored:")
		for _, k := range keys {
			name := string(k)
			if it, ok := m.list.item(k); ok {
				name = it.name
			}
			fmt.Fprintf(&b, "\n%s (%s dropped)", name, fmtCount(m.ignored.Dropped(k), "message"))
		}
		m.say(kindInfo, b.String())
		return nil
	}
	it, err := m.resolve(name)
	if err != nil {
		return err
	}
	if !m.ignored.Add(it.peer.Key) {
		return fmt.Errorf("%s is already ignored; /unignore %s shows their messages again", it.name, it.name)
	}
	m.say(kindSystem, "· "+it.name+" is ignored: their messages are dropped and counted; /unignore "+it.name+" undoes it")
	return nil
}

// closeConversation removes a conversation (the one in view when name is
// "") from the list. Its history stays in the node's store; the row comes
// back when the peer writes or with /msg.
func (m *Model) closeConversation(name string) error {
	key := m.list.sel
	label := ""
	if name != "" {
		it, err := m.resolve(name)
		if err != nil {
			return err
		}
		key, label = it.peer.Key, it.name
	} else if it, ok := m.list.selected(); ok {
		label = it.name
	}
	if key == "" {
		return errors.New("no conversation to close: /close <nick>, or pick one first")
	}
	if c, ok := m.convs[key]; ok && len(c.pending) > 0 {
		return fmt.Errorf("a message to %s is still being sent; close it once it has gone", label)
	}
	if key == m.list.sel {
		next := m.list.move(+1)
		if next == key {
			next = m.list.move(-1)
		}
		if next == key {
			next = ""
		}
		m.selectKey(next)
	}
	m.closed[key] = true
	m.dropConversation(key)
	delete(m.inputs, key)
	m.refreshPeers()
	m.updatePlaceholder()
	m.say(kindSystem, "· closed the conversation with "+label+"; /msg "+label+" opens it again")
	return nil
}

// fmtCount is "1 message", "3 messages".
func fmtCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// pathText says how messages to an online keyed peer travel now, for
// /whois: the kept connection's path and the network it crosses.
func pathText(p app.Peer) string {
	where := "the internet"
	if p.Source == "lan" {
		where = "the LAN"
	}
	switch p.Path {
	case app.PathDirect:
		return "direct, over " + where
	case app.PathPunched:
		return "punched through the NATs (direct, over " + where + ")"
	case app.PathRelayed:
		return "relayed by the bootstrap server (end-to-end encrypted; it sees only TLS records)"
	}
	return "none yet (made on the next message)"
}
