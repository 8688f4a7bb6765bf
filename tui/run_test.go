package tui

import (
	"context"
	"os"
	"strings"
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
	n.events <- incoming(alice, "hello from the network", testStart)
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
