package textsafe

import (
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want, oneLine string
	}{
		{"plain", "hello, world", "hello, world", "hello, world"},
		{"unicode", "héllo 世界 🙂", "héllo 世界 🙂", "héllo 世界 🙂"},
		{"SGR colour", "\x1b[31mred\x1b[0m", "red", "red"},
		{"clear screen and home", "a\x1b[2J\x1b[Hb", "ab", "ab"},
		{"private mode", "\x1b[?1049hx", "x", "x"},
		{"OSC title with BEL", "\x1b]0;owned\x07after", "after", "after"},
		{"OSC clipboard with ST", "\x1b]52;c;aGk=\x1b\\after", "after", "after"},
		{"OSC unterminated", "before\x1b]0;title", "before", "before"},
		{"DCS", "\x1bPq#0;2;0;0;0\x1b\\x", "x", "x"},
		{"two-byte escape", "a\x1bcb", "ab", "ab"},
		{"charset escape", "a\x1b(0b", "ab", "ab"},
		{"lone ESC at end", "a\x1b", "a", "a"},
		{"8-bit CSI", "a\u009b2Jb", "ab", "ab"},
		{"8-bit OSC", "a\u009d0;t\u009cb", "ab", "ab"},
		{"other C1", "a\u0085b", "a\uFFFDb", "a\uFFFDb"},
		{"bell", "ding\a", "ding^G", "ding^G"},
		{"NUL and backspace", "a\x00b\x08c", "a^@b^Hc", "a^@b^Hc"},
		{"DEL", "a\x7fb", "a^?b", "a^?b"},
		{"tab", "a\tb", "a b", "a b"},
		{"newlines", "one\r\ntwo\nthree", "one\ntwo\nthree", "one two three"},
		{"lone CR", "abc\rxyz", "abcxyz", "abcxyz"},
		{"line separator", "a\u2028b", "a\nb", "a b"},
		{"bidi override", "abc\u202edcba\u202c", "abcdcba", "abcdcba"},
		{"bidi isolate", "x\u2067y\u2069", "xy", "xy"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in, true); got != tt.want {
				t.Errorf("Sanitize(%q, multiline) = %q, want %q", tt.in, got, tt.want)
			}
			if got := Line(tt.in); got != tt.oneLine {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.oneLine)
			}
		})
	}
}

// FuzzSanitize: whatever comes in, what comes out is valid UTF-8 without a
// control character (but newlines when allowed) or a bidi override, and
// sanitising it again changes nothing.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"hi", "\x1b[31mx", "\x1b]0;t\a", "\u009b1m", "a\nb", "\xff\xfe", "\x1bP\x1b\\", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, multiline := range []bool{false, true} {
			out := Sanitize(in, multiline)
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 from %q: %q", in, out)
			}
			for _, r := range out {
				bad := r < 0x20 && !(r == '\n' && multiline) || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r)
				if bad {
					t.Fatalf("Sanitize(%q, %v) = %q holds %U", in, multiline, out, r)
				}
			}
			if again := Sanitize(out, multiline); again != out {
				t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
			}
		}
	})
}
