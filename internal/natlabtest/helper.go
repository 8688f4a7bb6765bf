package natlabtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// Helper is the test binary running as a helper process in one lab host:
// the test sends it commands and reads its answers, one line each, over
// its stdin and stdout. The helper ends at the end of its stdin.
type Helper struct {
	Host string
	in   io.WriteCloser
	out  *bufio.Scanner
	done chan error
	errs strings.Builder // its stderr (read once the process ended)
}

// StartHelper runs the test binary's test named test (a function that
// acts as the helper when env is set, and skips otherwise) in host, with
// env added to its environment. The helper is ended when the test ends
// (its stdin closed, then killed after wait); its stderr is logged if
// the test failed.
func (l *Lab) StartHelper(tb testing.TB, host, test, env string, wait time.Duration) *Helper {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, host, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	h := &Helper{Host: host, done: make(chan error, 1)}
	cmd.Stderr = &h.errs
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	go func() { h.done <- cmd.Wait() }()
	h.in, h.out = in, bufio.NewScanner(out)
	tb.Cleanup(func() {
		_ = h.in.Close()
		select {
		case <-h.done:
		case <-time.After(wait):
			cancel()
			<-h.done
		}
		cancel()
		if tb.Failed() {
			tb.Logf("helper in %s, stderr:\n%s", host, h.errs.String())
		}
	})
	return h
}

// Send writes one command line.
func (h *Helper) Send(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if _, err := fmt.Fprintf(h.in, format+"\n", args...); err != nil {
		tb.Fatalf("helper in %s: %v", h.Host, err)
	}
}

// Answer reads one answer line; the test fails if the helper ended.
func (h *Helper) Answer(tb testing.TB) string {
	tb.Helper()
	if !h.out.Scan() {
		tb.Fatalf("helper in %s ended: %v", h.Host, h.out.Err())
	}
	return h.out.Text()
}
