package tui

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/muesli/termenv"
)

// runForTest starts Run on a pipe for input and a buffer for output, and
// returns the input's write end and Run's result. When the test ends, Run
// is stopped and waited for before the pipe closes.
func runForTest(t *testing.T, ctx context.Context, node Node) (*os.File, *lockedBuffer, <-chan error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	out := &lockedBuffer{}
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- Run(ctx, node, Options{Input: r, Output: out, NoBlink: true})
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
		r.Close()
		w.Close()
	})
	return w, out, done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// waitOutput polls until the program has drawn want.
func waitOutput(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%q", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunQuitsOnCtrlC(t *testing.T) {
	n := threePeers().withEvents(t, 4)
	in, out, done := runForTest(t, t.Context(), n)
	waitOutput(t, out, "alice")
	in.Write([]byte{0x0e}) // ctrl+n: alice
	waitOutput(t, out, "alice · online")
	n.receive(incoming(alice, "hello from the network", testStart).msg)
	waitOutput(t, out, "hello from the network")
	if _, err := in.Write([]byte{0x03}); err != nil { // ctrl+c
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run after ctrl+c: %v", err)
	}
	if s := out.String(); !strings.Contains(s, "\x1b[?1049h") || !strings.Contains(s, "\x1b[?1002h") {
		t.Errorf("no alternate screen or mouse mode in the output")
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	n := threePeers().withEvents(t, 4)
	ctx, cancel := context.WithCancel(t.Context())
	_, out, done := runForTest(t, ctx, n)
	waitOutput(t, out, "alice")
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestRunSendsTypedMessage(t *testing.T) {
	n := threePeers().withEvents(t, 4)
	in, out, done := runForTest(t, t.Context(), n)
	waitOutput(t, out, "alice")
	in.Write([]byte{0x0e}) // ctrl+n: alice
	waitOutput(t, out, "alice · online")
	in.Write([]byte("hi there\r"))
	waitOutput(t, out, "ada: hi there")
	in.Write([]byte("/quit\r"))
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run after /quit: %v", err)
	}
	if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{alice.Key, "hi there"}) {
		t.Errorf("sent %v", s)
	}
}

// TestNoColor: NO_COLOR turns every colour and style off, even where
// colours would otherwise be forced.
func TestNoColor(t *testing.T) {
	tests := []struct {
		noColor string
		want    termenv.Profile
	}{
		{"", termenv.ANSI},
		{"1", termenv.Ascii},
	}
	for _, tt := range tests {
		t.Run("NO_COLOR="+tt.noColor, func(t *testing.T) {
			t.Setenv("CLICOLOR_FORCE", "1") // colours even into a buffer
			t.Setenv("NO_COLOR", tt.noColor)
			out := &lockedBuffer{}
			var m tea.Model = New(threePeers(), Options{Output: out, NoBlink: true})
			m, _ = m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			m, _ = m.Update(eventsMsg{events: nil})
			frame := m.View()
			hasStyle := strings.Contains(frame, "\x1b[")
			if want := tt.want != termenv.Ascii; hasStyle != want {
				t.Errorf("escape sequences in frame: %v, want %v", hasStyle, want)
			}
		})
	}
}

// plainWriter is an output that is not safe for concurrent use, as most
// writers are not: the race detector reports two goroutines writing it
// without synchronisation. It tells when the bell is written and when a
// frame holds a given text.
type plainWriter struct {
	buf   []byte
	bell  chan struct{}
	want  atomic.Pointer[regexp.Regexp] // what frame is told about
	frame chan struct{}
}

func newPlainWriter() *plainWriter {
	w := &plainWriter{bell: make(chan struct{}, 1), frame: make(chan struct{}, 1)}
	w.want.Store(regexp.MustCompile(`^$`))
	return w
}

func (w *plainWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if bytes.IndexByte(p, '\a') >= 0 {
		signal(w.bell)
	}
	if w.want.Load().Match(p) {
		signal(w.frame)
	}
	return len(p), nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func waitSignal(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
}

// TestBellWithPlainWriter: the bell (written by a command) and the frames
// (written by Bubble Tea's renderer) go to the output one at a time. Run
// it with -race.
func TestBellWithPlainWriter(t *testing.T) {
	n := threePeers().withEvents(t, 16)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	out := newPlainWriter()
	out.want.Store(regexp.MustCompile(`Peers 3/3`))
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), n, Options{Input: r, Output: out, Bell: true, NoBlink: true}) }()
	// The first frame: from now on messages are news (those stored before
	// the UI started are counted as unread, without a bell).
	waitSignal(t, out.frame, "first frame")
	// Each message for bob (not in view) rings the bell and changes the
	// frame, which the renderer writes a little later, from another
	// goroutine.
	for i := range 5 {
		text := fmt.Sprintf("ring %d", i)
		out.want.Store(regexp.MustCompile(fmt.Sprintf(`● bob +%d │`, i+1))) // bob's unread count
		n.receive(incoming(bob, text, testStart).msg)
		waitSignal(t, out.bell, "bell")
		waitSignal(t, out.frame, "frame")
	}
	if _, err := w.Write([]byte{0x03}); err != nil { // ctrl+c
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(out.buf, []byte("\a")); got != 5 {
		t.Errorf("the bell rang %d times, want 5", got)
	}
}
