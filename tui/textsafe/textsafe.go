// Package textsafe makes text that came from the network safe to print on a
// terminal: escape sequences, control characters and bidirectional
// overrides never reach it. Both UIs use it.
package textsafe

import (
	"strings"
	"unicode/utf8"
)

// Sanitize makes text that came from the network safe to print on a
// terminal. Escape sequences (CSI, OSC, DCS, ... in their
// 7-bit and 8-bit forms) are removed whole; other control characters are
// shown in caret notation ("^G"); invalid UTF-8 and C1 controls become
// U+FFFD; bidirectional overrides, which can make text read differently
// from what it is, are dropped. Tabs become a space. Newlines are kept when
// multiline is set and become spaces otherwise.
func Sanitize(s string, multiline bool) string {
	if isPlainASCII(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b: // ESC
			i = skipEscape(s, i+1)
			continue
		case r == 0x9b: // CSI in its 8-bit form
			i = skipCSI(s, i+size)
			continue
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS SOS OSC PM APC
			i = skipString(s, i+size)
			continue
		case r == '\n' || r == '\u2028' || r == '\u2029':
			if multiline {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\r':
			// Dropped: "\r\n" is a newline, a lone CR would move the cursor.
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + 0x40)
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r <= 0x9f:
			b.WriteRune(utf8.RuneError)
		case isBidiControl(r):
			// Dropped.
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Line is Sanitize for text that must stay on one line, such as a
// nickname.
func Line(s string) string { return Sanitize(s, false) }

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// isBidiControl reports the explicit directional embeddings, overrides and
// isolates (U+202A..U+202E, U+2066..U+2069).
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// skipEscape returns the index after the escape sequence whose ESC was just
// before i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		return skipCSI(s, i+1)
	case ']', 'P', 'X', '^', '_':
		return skipString(s, i+1)
	}
	// ESC, intermediate bytes, one final byte.
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI returns the index after a control sequence's parameter,
// intermediate and final bytes, starting at i.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString returns the index after a control string (OSC, DCS, ...)
// starting at i: up to and including BEL, ESC \ or ST (U+009C). An
// unterminated string runs to the end, as it would on a terminal.
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case strings.HasPrefix(s[i:], "\u009c"):
			return i + len("\u009c")
		}
		i++
	}
	return i
}
