package natlabtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// Helper is the test binary itself, run as a helper process in one of
// the lab's hosts and driven one command and one answer a line over its
// stdin and stdout. The helper runs only the test named when it starts
// (which does its work when it finds the environment it is given) and
// ends when its stdin closes, at the end of the test.
type Helper struct {
	Host string
	in   io.WriteCloser
	out  *bufio.Scanner
	errs lockedBuffer // its stderr, shown when the test fails
}

// helperGrace is how long a helper has to end after its stdin closed.
const helperGrace = 10 * time.Second

// StartHelper starts the test binary in host running only the test
// testName, with env added to the environment.
func (l *Lab) StartHelper(tb testing.TB, host, testName string, env ...string) *Helper {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, host, os.Args[0], "-test.run=^"+testName+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	h := &Helper{Host: host}
	cmd.Stderr = &h.errs
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	h.in, h.out = in, bufio.NewScanner(out)
	tb.Cleanup(func() {
		h.in.Close() // the helper ends at EOF
		select {
		case <-done:
		case <-time.After(helperGrace):
			cancel()
			<-done
		}
		cancel()
		if tb.Failed() {
			tb.Logf("helper %s stderr:\n%s", host, h.errs.String())
		}
	})
	return h
}

// Send writes one command line.
func (h *Helper) Send(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if _, err := fmt.Fprintf(h.in, format+"\n", args...); err != nil {
		tb.Fatalf("helper %s: %v", h.Host, err)
	}
}

// Answer reads one answer line.
func (h *Helper) Answer(tb testing.TB) string {
	tb.Helper()
	if !h.out.Scan() {
		tb.Fatalf("helper %s ended: %v\n%s", h.Host, h.out.Err(), h.errs.String())
	}
	return h.out.Text()
}

// Ask sends one command and returns its answer.
func (h *Helper) Ask(tb testing.TB, format string, args ...any) string {
	tb.Helper()
	h.Send(tb, format, args...)
	return h.Answer(tb)
}

// lockedBuffer is a bytes.Buffer that the command's stderr copier and
// the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
