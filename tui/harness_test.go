package tui

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/parlance-chat/parlance/app"
)

// harness drives a Model through Update the way Bubble Tea would, but
// synchronously: every command a message returns is run at once and its
// message fed back. The node has no event channel (events are given to
// Update directly), the cursor does not blink and the retry countdown does
// not tick, so no command ever blocks.
type harness struct {
	t     testing.TB
	m     Model
	node  *fakeNode
	clock *fixedClock
	out   *lockedBuffer // Output: the bell, and a non-terminal renderer (no colours)
	quit  bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var testStart = time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC)

func newHarness(t testing.TB, node *fakeNode, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, node: node, clock: &fixedClock{t: testStart}, out: &lockedBuffer{}}
	opts.NoBlink = true
	opts.Now = h.clock.Now
	opts.Location = time.UTC
	opts.Output = h.out
	h.m = New(node, opts)
	h.m.tick = nil
	h.update(tea.WindowSizeMsg{Width: 160, Height: 30})
	return h
}

// newPickedHarness is newHarness after the user picked the first peer of
// the list (nothing is selected at start), as most tests need.
func newPickedHarness(t testing.TB, node *fakeNode, opts Options) *harness {
	t.Helper()
	h := newHarness(t, node, opts)
	if len(h.m.list.items) > 0 {
		h.key("ctrl+n")
	}
	return h
}

func (h *harness) update(msg tea.Msg) {
	h.t.Helper()
	mm, cmd := h.m.Update(msg)
	h.m = mm.(Model)
	h.run(cmd)
}

func (h *harness) run(cmd tea.Cmd) {
	h.t.Helper()
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		h.update(msg)
	}
}

// key presses one named key ("up", "enter", "ctrl+c", "a", ...).
func (h *harness) key(names ...string) {
	h.t.Helper()
	for _, n := range names {
		h.update(keyMsg(n))
	}
}

// typeText types s one key at a time.
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.update(keyMsg(string(r)))
	}
}

// enter types a line and presses Enter.
func (h *harness) enter(line string) {
	h.t.Helper()
	h.typeText(line)
	h.key("enter")
}

// events delivers node events as the event command would; messages
// (inMsg, from incoming) are committed to the node's store first, and the
// batch says the store changed.
func (h *harness) events(evs ...any) {
	h.t.Helper()
	msg := eventsMsg{}
	for _, e := range evs {
		switch e := e.(type) {
		case inMsg:
			h.node.receive(e.msg)
			msg.changed = true
		case app.Event:
			msg.events = append(msg.events, e)
		default:
			h.t.Fatalf("harness.events: %T is neither an event nor a message", e)
		}
	}
	h.update(msg)
}

// screen is the frame as plain text.
func (h *harness) screen() string { return ansi.Strip(h.m.View()) }

func (h *harness) wantScreen(subs ...string) {
	h.t.Helper()
	s := h.screen()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			h.t.Errorf("screen lacks %q:\n%s", sub, s)
		}
	}
}

func (h *harness) dontWantScreen(subs ...string) {
	h.t.Helper()
	s := h.screen()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			h.t.Errorf("screen has %q:\n%s", sub, s)
		}
	}
}

// conversationText is the text of the conversation pane as shown.
func (h *harness) conversationText() string {
	lines, _ := h.m.conversationLines()
	return ansi.Strip(strings.Join(lines, "\n"))
}

func keyMsg(name string) tea.KeyMsg {
	special := map[string]tea.KeyType{
		"up": tea.KeyUp, "down": tea.KeyDown, "enter": tea.KeyEnter, "tab": tea.KeyTab,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "esc": tea.KeyEsc, "ctrl+c": tea.KeyCtrlC,
		"backspace": tea.KeyBackspace, "ctrl+u": tea.KeyCtrlU, "home": tea.KeyHome, "end": tea.KeyEnd,
		"ctrl+n": tea.KeyCtrlN, "ctrl+p": tea.KeyCtrlP, "ctrl+x": tea.KeyCtrlX, "ctrl+j": tea.KeyCtrlJ,
		"ctrl+home": tea.KeyCtrlHome, "ctrl+end": tea.KeyCtrlEnd, "f1": tea.KeyF1, "f2": tea.KeyF2,
	}
	if k, ok := map[string]tea.KeyMsg{
		"alt+up": {Type: tea.KeyUp, Alt: true}, "alt+down": {Type: tea.KeyDown, Alt: true},
		"alt+enter": {Type: tea.KeyEnter, Alt: true},
	}[name]; ok {
		return k
	}
	if len(name) == 5 && strings.HasPrefix(name, "alt+") {
		return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(name[4:]), Alt: true}
	}
	if t, ok := special[name]; ok {
		return tea.KeyMsg{Type: t}
	}
	if name == " " {
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(name)}
}
