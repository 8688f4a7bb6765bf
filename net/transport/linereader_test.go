package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parlance-chat/parlance/net/wire"
)

// readAllLines reads lines until an error and returns them and the error.
func readAllLines(lr *lineReader) ([]string, error) {
	var lines []string
	for {
		line, err := lr.next()
		if err != nil {
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

func TestLineReader(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		max   int
		lines []string
		err   error
	}{
		{"empty", "", 16, nil, io.EOF},
		{"one line", "abc\n", 16, []string{"abc"}, io.EOF},
		{"no final newline", "abc\ndef", 16, []string{"abc", "def"}, io.EOF},
		{"CRLF", "abc\r\ndef\r\n", 16, []string{"abc", "def"}, io.EOF},
		{"bare CR at EOF", "abc\r", 16, []string{"abc"}, io.EOF},
		{"CR inside kept", "a\rb\n", 16, []string{"a\rb"}, io.EOF},
		{"blank lines", "\n\n", 16, []string{"", ""}, io.EOF},
		{"exactly max with newline", "abc\n", 4, []string{"abc"}, io.EOF},
		{"one over max", "abcd\n", 4, nil, errLineTooLong},
		{"max without newline at EOF", "abcd", 4, nil, errLineTooLong},
		{"just under max at EOF", "abc", 4, []string{"abc"}, io.EOF},
		{"too long after good lines", "ab\ncd\nefghij\nkl\n", 4, []string{"ab", "cd"}, errLineTooLong},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+err": iotest.DataErrReader,
	}
	for _, tc := range cases {
		for rname, wrap := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				lines, err := readAllLines(newLineReader(wrap(strings.NewReader(tc.in)), tc.max))
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if strings.Join(lines, "|") != strings.Join(tc.lines, "|") || len(lines) != len(tc.lines) {
					t.Fatalf("lines = %q, want %q", lines, tc.lines)
				}
			})
		}
	}
}

func TestLineReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	lr := newLineReader(io.MultiReader(strings.NewReader("ok\npartial"), iotest.ErrReader(boom)), 64)
	lines, err := readAllLines(lr)
	if !errors.Is(err, boom) || len(lines) != 2 || lines[1] != "partial" {
		t.Fatalf("lines %q, err %v", lines, err)
	}
}

// countingReader is an endless stream of one byte that counts what was read.
type countingReader struct {
	b byte
	n int
}

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	r.n += len(p)
	return len(p), nil
}

// TestLineReaderBoundedMemory: an endless line is cut after the limit,
// having read no more than the limit and holding no bigger buffer.
func TestLineReaderBoundedMemory(t *testing.T) {
	src := &countingReader{b: 'a'}
	lr := newLineReader(src, wire.MaxLine)
	if _, err := lr.next(); !errors.Is(err, errLineTooLong) {
		t.Fatalf("err = %v", err)
	}
	if src.n > wire.MaxLine || cap(lr.buf) > wire.MaxLine {
		t.Fatalf("read %d bytes into a %d byte buffer for a limit of %d", src.n, cap(lr.buf), wire.MaxLine)
	}
}

// TestLineReaderNoProgress: a reader that returns nothing forever is an
// error, not a busy loop.
func TestLineReaderNoProgress(t *testing.T) {
	lr := newLineReader(emptyReader{}, 64)
	if _, err := lr.next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// referenceLines is the obvious (unbounded) model of lineReader.
func referenceLines(in []byte, limit int) ([]string, bool) {
	var lines []string
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		var line []byte
		if i < 0 {
			if len(in) >= limit {
				return lines, true
			}
			line, in = in, nil
		} else {
			if i+1 > limit {
				return lines, true
			}
			line, in = in[:i], in[i+1:]
		}
		lines = append(lines, string(bytes.TrimSuffix(line, []byte("\r"))))
	}
	return lines, false
}

// chunkReader returns the input in chunks of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])%97 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzLineReader checks the line reader against the simple model for any
// input, chunking and limit.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte(`{"from":"bob","content":"hi","timestamp":1699123456}`+"\n"), []byte{5, 90}, uint8(64))
	f.Add([]byte("a\r\nb\n\nccc"), []byte{1}, uint8(3))
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaa"), []byte{}, uint8(8))
	f.Add([]byte("\r\r\n\n\r"), []byte{2, 3}, uint8(1))
	f.Fuzz(func(t *testing.T, in, sizes []byte, limitSeed uint8) {
		limit := int(limitSeed)%200 + 1
		want, tooLong := referenceLines(in, limit)
		lr := newLineReader(&chunkReader{data: in, sizes: sizes}, limit)
		got, err := readAllLines(lr)
		if tooLong != errors.Is(err, errLineTooLong) || (!tooLong && !errors.Is(err, io.EOF)) {
			t.Fatalf("err = %v, model says too long: %v", err, tooLong)
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines %q, want %d %q", len(got), got, len(want), want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
			}
		}
		if cap(lr.buf) > limit {
			t.Fatalf("buffer of %d bytes for a limit of %d", cap(lr.buf), limit)
		}
	})
}

// FuzzInboundLines feeds any bytes to the inbound message reader as a
// plaintext connection would: it must never panic, and everything it
// delivers must be a valid message.
func FuzzInboundLines(f *testing.F) {
	f.Add([]byte(`{"from":"bob","content":"hi","timestamp":1699123456}` + "\n" + `{"from":"bob","content":"x","timestamp":1.5}`))
	f.Add([]byte("{\x00\xff\n{}\n{\"from\":null}\r\n"))
	tr := &Transport{cfg: Config{}.withDefaults()}
	tr.log = tr.cfg.Logger
	tr.logs = newInboundLogs(tr.log)
	f.Fuzz(func(t *testing.T, in []byte) {
		tr.readMessages(bytes.NewReader(in), nopDeadlineConn{}, &inConn{}, netip4(1), "", nil, func(in Inbound) {
			if _, err := in.Message.AppendLine(nil); err != nil {
				t.Fatalf("delivered an invalid message %+v: %v", in.Message, err)
			}
		})
	})
}
