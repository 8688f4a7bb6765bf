package tui

import (
	"context"
	"errors"
	"fmt"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
)

// Run shows the UI full-screen (alternate screen, mouse wheel and clicks)
// until the user quits or ctx is done, and then returns; neither is an
// error. It does not stop the node: the caller cancels the node's context
// afterwards, which says goodbye to the peers. No goroutine Run starts
// outlives it.
func Run(ctx context.Context, node Node, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the wait for node events

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
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithMouseCellMotion()}
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
