package transport

import (
	"bytes"
	"errors"
	"io"
)

// errLineTooLong: a line (line end included) is longer than the limit.
var errLineTooLong = errors.New("line too long")

// lineReader splits a byte stream into lines, holding at most max bytes in
// memory: a line longer than that is an error, found without reading the
// rest of it. Unlike bufio.Scanner it says so (errLineTooLong) instead of
// stopping as if at EOF.
type lineReader struct {
	r          io.Reader
	max        int
	buf        []byte // grows up to max
	start, end int    // buf[start:end] is read but not yet returned
	scanned    int    // buf[start:scanned] holds no '\n'
	err        error  // read error, returned once the buffer is used up
}

// lineReaderStart is the initial buffer size; it grows for longer lines.
const lineReaderStart = 4 << 10

func newLineReader(r io.Reader, limit int) *lineReader {
	return &lineReader{r: r, max: limit, buf: make([]byte, min(lineReaderStart, limit))}
}

// next returns the next line without its "\n" or "\r\n". The slice is only
// valid until the next call. A last line without "\n" before the end of the
// stream is returned like any other; then next returns the read error
// (io.EOF at a clean end). A line of more than max bytes, "\n" included,
// gives errLineTooLong; the reader is then unusable.
func (lr *lineReader) next() ([]byte, error) {
	for empty := 0; ; {
		if i := bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n'); i >= 0 {
			nl := lr.scanned + i
			if nl+1-lr.start > lr.max {
				return nil, errLineTooLong
			}
			line := lr.buf[lr.start:nl]
			lr.start, lr.scanned = nl+1, nl+1
			return trimCR(line), nil
		}
		lr.scanned = lr.end
		if lr.end-lr.start >= lr.max {
			return nil, errLineTooLong
		}
		if lr.err != nil {
			if lr.start < lr.end {
				line := lr.buf[lr.start:lr.end]
				lr.start = lr.end
				return trimCR(line), nil
			}
			return nil, lr.err
		}
		if n := lr.fill(); n == 0 && lr.err == nil {
			if empty++; empty >= 100 {
				lr.err = io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
}

// fill reads once into the free end of the buffer, first moving the
// unread bytes to the front or growing the buffer when it is full.
func (lr *lineReader) fill() int {
	if lr.start == lr.end || (lr.start > 0 && lr.end == len(lr.buf)) {
		n := copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.scanned -= lr.start
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) { // full of one partial line shorter than max
		nb := make([]byte, min(2*len(lr.buf), lr.max))
		copy(nb, lr.buf[:lr.end])
		lr.buf = nb
	}
	n, err := lr.r.Read(lr.buf[lr.end:])
	lr.end += n
	if err != nil {
		lr.err = err
	}
	return n
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}
