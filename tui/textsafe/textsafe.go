// Package textsafe makes text that came from the network safe to print on a
// terminal: escape sequences, control characters and bidirectional
// overrides never reach it. Names get more: what cannot be seen is shown
// (Name), and names that look alike compare equal (Fold). Both UIs use it.
package textsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parlance-chat/parlance/internal/confusable"
	"github.com/parlance-chat/parlance/net/wire"
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

// Name makes a name from the network (a nickname) safe to print and honest:
// nothing in it is hidden. Where Line drops or blurs a character, Name
// shows it as its code point in angle brackets, "<U+200B>":
//
//   - control characters (C0, DEL, C1) and line or paragraph separators;
//   - Unicode format characters (category Cf): zero-width space U+200B,
//     zero-width non-joiner and joiner U+200C and U+200D, word joiner
//     U+2060, byte order mark U+FEFF, soft hyphen U+00AD, the bidi controls,
//     tag characters, ...;
//   - the other default-ignorable code points (Hangul fillers U+115F,
//     U+1160, U+3164, U+FFA0, combining grapheme joiner U+034F, ...) and the
//     blank braille pattern U+2800, which all draw as nothing or a blank.
//
// So "alice", "alice\u200b" and "ali\u00adce" print as "alice",
// "alice<U+200B>" and "ali<U+00AD>ce". An escape sequence shows as text
// ("<U+001B>[31m"), never reaches the terminal and never vanishes. Invalid
// UTF-8 bytes show as "<U+FFFD>".
//
// Two exceptions keep real names readable: a zero-width joiner or
// non-joiner between two non-ASCII letters, marks or symbols is kept, as it
// shapes emoji sequences ("👩\u200d💻") and Arabic and Indic scripts; and
// variation selectors (emoji presentation) are kept. Such names may look
// like others: Fold folds them together, so a list can tell them apart
// with a tag.
//
// A literal "<U+" (any case) in a name is shown as "<U+003C>U+", so that
// no valid UTF-8 name prints the same as another.
//
// A name that mixes letters of several scripts, as Cyrillic "\u0430lice"
// does, is marked: MixedMark follows it.
func Name(s string) string {
	out := Text(s)
	if confusable.MixedScript(s) {
		out += MixedMark
	}
	return out
}

// Text is Name without the mixed-script mark: for a line of text that
// holds names, such as a warning ("alice<U+2062> has a different key"), so
// that what a name hides shows there too. Like Line, it never lets an
// escape sequence or a control character through; unlike Line, it shows
// them, and the invisible characters, as "<U+XXXX>".
func Text(s string) string {
	if isPlainASCII(s) && !hasMarker(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(-1) // the rune before, or -1 at the start
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeCode(&b, utf8.RuneError)
		case r == '<' && hasMarker(s[i:]):
			writeCode(&b, r)
		case isHidden(r) && !(isJoiner(r) && shapes(prev) && shapes(nextRune(s[i+size:]))):
			writeCode(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		prev = r
		i += size
	}
	return b.String()
}

// MixedMark follows a name that mixes scripts (see Name).
const MixedMark = "<mixed scripts>"

// writeCode writes r as "<U+XXXX>".
func writeCode(b *strings.Builder, r rune) { fmt.Fprintf(b, "<%U>", r) }

// hasMarker reports whether s holds "<U+" in any case, which Name writes
// for hidden characters.
func hasMarker(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || len(s)-i < 3 {
			return false
		}
		if (s[i+1] == 'U' || s[i+1] == 'u') && s[i+2] == '+' {
			return true
		}
		s = s[i+1:]
	}
}

// isHidden reports the characters Name shows as code points.
func isHidden(r rune) bool {
	switch {
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true
	case r < 0x80:
		return false
	case r == '\u2028' || r == '\u2029' || r == '\u2800':
		return true
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// isJoiner: zero-width non-joiner and joiner.
func isJoiner(r rune) bool { return r == '\u200c' || r == '\u200d' }

// shapes reports whether a joiner next to r can change how text is drawn:
// r is a non-ASCII letter, mark or symbol.
func shapes(r rune) bool {
	return r >= 0x80 && !isHidden(r) && (unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.So, r))
}

// nextRune is the first rune of s, or -1 when s is empty or starts with
// invalid UTF-8.
func nextRune(s string) rune {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || (r == utf8.RuneError && size == 1) {
		return -1
	}
	return r
}

// Fold returns the form in which names that look alike are equal, for
// comparing names (never for display). It is wire.FoldNickname (NFKC,
// case folding, format characters removed, the UTS #39 confusables
// skeleton: "Alice", "alice\u200b", "ali\u00adce" and Cyrillic
// "\u0430lice" all fold alike), and it also removes what
// wire.FoldNickname keeps but a terminal draws as nothing (the other
// default-ignorable code points, variation selectors, the blank braille
// pattern) and turns every run of spaces of any kind into one space,
// trimmed at both ends. So names equal under wire.FoldNickname are always
// equal under Fold.
func Fold(s string) string {
	if isPlainASCII(s) {
		// Plain ASCII that the confusables skeleton leaves alone (no "0",
		// "1", "m", "|", ...) folds by lower-casing.
		lower := strings.ToLower(s)
		if confusable.ASCIIUnchanged(lower) {
			if !strings.Contains(lower, "  ") && strings.TrimSpace(lower) == lower {
				return lower
			}
			return strings.Join(strings.Fields(lower), " ")
		}
	}
	return foldSlow(s)
}

// foldSlow is Fold without the shortcut for plain ASCII.
func foldSlow(s string) string {
	s = wire.FoldNickname(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is owed before the next visible character
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
		case isHidden(r) || unicode.Is(unicode.Variation_Selector, r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
