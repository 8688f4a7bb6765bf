package tui

import (
	"context"
	"errors"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
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
	popts := []tea.ProgramOption{
		tea.WithContext(ctx),
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
	}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	_, err := tea.NewProgram(m, popts...).Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil && !errors.Is(err, tea.ErrProgramPanic):
		return nil
	}
	return fmt.Errorf("terminal UI: %w", err)
}
