package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
)

// Run shows the UI full-screen (alternate screen, mouse wheel and clicks
// unless Options.NoMouse)
// until the user quits or ctx is done, and then returns; neither is an
// error. It does not stop the node: the caller cancels the node's context
// afterwards, which says goodbye to the peers. No goroutine Run starts
// outlives it.
func Run(ctx context.Context, node Node, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the wait for node events

	// The bell is written from a command's goroutine while Bubble Tea's
	// renderer writes the frames: both go through one lock. A terminal
	// (an *os.File) is safe to write from several goroutines as it is,
	// and Bubble Tea needs to see it is one.
	if opts.Output != nil {
		if _, ok := opts.Output.(term.File); !ok {
			opts.Output = &syncWriter{w: opts.Output}
		}
	}
	m := New(node, opts)
	m.ctx = ctx
	// Bubble Tea reports the size only of a terminal; start with the real
	// size, or a common one when the output is not a terminal.
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	w, h := 80, 24
	if f, ok := out.(interface{ Fd() uintptr }); ok && term.IsTerminal(f.Fd()) {
		if tw, th, err := term.GetSize(f.Fd()); err == nil {
			w, h = tw, th
		}
	}
	m.resize(w, h)
	// The end of ctx quits the program the graceful way: a killed program
	// (tea.WithContext) leaves its input reader's goroutine behind.
	// Focus reports tell when the terminal is not looked at, to notify
	// of messages even in the conversation in view.
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithReportFocus()}
	if !opts.NoMouse {
		popts = append(popts, tea.WithMouseCellMotion())
	}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	p := tea.NewProgram(m, popts...)
	stop := context.AfterFunc(ctx, p.Quit)
	defer stop()
	_, err := p.Run()
	if err == nil || errors.Is(err, tea.ErrInterrupted) {
		return nil
	}
	return fmt.Errorf("terminal UI: %w", err)
}

// syncWriter serialises the writes of several goroutines to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
