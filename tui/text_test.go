package tui

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
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
			if got := sanitize(tt.in, true); got != tt.want {
				t.Errorf("sanitize(%q, multiline) = %q, want %q", tt.in, got, tt.want)
			}
			if got := sanitizeLine(tt.in); got != tt.oneLine {
				t.Errorf("sanitizeLine(%q) = %q, want %q", tt.in, got, tt.oneLine)
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
			out := sanitize(in, multiline)
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 from %q: %q", in, out)
			}
			for _, r := range out {
				bad := r < 0x20 && !(r == '\n' && multiline) || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r)
				if bad {
					t.Fatalf("sanitize(%q, %v) = %q holds %U", in, multiline, out, r)
				}
			}
			if again := sanitize(out, multiline); again != out {
				t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
			}
		}
	})
}

func TestWrapText(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		first, rest int
		want        []string
	}{
		{"fits", "hello world", 20, 20, []string{"hello world"}},
		{"empty", "", 10, 10, []string{""}},
		{"at spaces", "the quick brown fox jumps", 10, 10, []string{"the quick", "brown fox", "jumps"}},
		{"narrower first line", "aaa bbb ccc ddd", 4, 8, []string{"aaa", "bbb ccc", "ddd"}},
		{"long word is broken", "abcdefghijkl", 5, 5, []string{"abcde", "fghij", "kl"}},
		{"long word after text", "see abcdefghij", 8, 8, []string{"see abcd", "efghij"}},
		{"newlines kept", "one\ntwo\n\nfour", 10, 10, []string{"one", "two", "", "four"}},
		{"spaces at a break dropped", "aaaa     bbbb", 6, 6, []string{"aaaa", "bbbb"}},
		{"inner spaces kept", "a  b", 10, 10, []string{"a  b"}},
		{"leading spaces kept", "  indented", 20, 20, []string{"  indented"}},
		{"break after hyphen", "ABCD-EFGH-IJKL-MNOP", 10, 10, []string{"ABCD-EFGH-", "IJKL-MNOP"}},
		{"CJK by width", "世界世界世界", 5, 5, []string{"世界", "世界", "世界"}},
		{"emoji by width", "🙂🙂🙂 ok", 4, 4, []string{"🙂🙂", "🙂", "ok"}},
		{"ZWJ family is one cluster", "👨‍👩‍👧👨‍👩‍👧", 2, 2, []string{"👨‍👩‍👧", "👨‍👩‍👧"}},
		{"combining marks stay", "e\u0301e\u0301e\u0301", 2, 2, []string{"e\u0301e\u0301", "e\u0301"}},
		{"wide char in a 1-cell line", "世界", 1, 1, []string{"世", "界"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapText(tt.in, tt.first, tt.rest)
			if !slices.Equal(got, tt.want) {
				t.Errorf("wrapText(%q, %d, %d) = %q, want %q", tt.in, tt.first, tt.rest, got, tt.want)
			}
		})
	}
}

// FuzzWrapText: no line is wider than its limit (unless it is a single
// cluster), and nothing but spaces is lost.
func FuzzWrapText(f *testing.F) {
	f.Add("the quick brown fox", 5, 7)
	f.Add("世界 🙂 abc-def\nxyz", 3, 2)
	f.Fuzz(func(t *testing.T, in string, first, rest int) {
		in = sanitize(in, true)
		first, rest = first%200, rest%200
		lines := wrapText(in, first, rest)
		for i, l := range lines {
			limit := max(rest, 1)
			if i == 0 {
				limit = max(first, 1)
			}
			if w := ansi.StringWidth(l); w > limit {
				if c, _ := ansi.FirstGraphemeCluster(l, ansi.GraphemeWidth); c != l {
					t.Fatalf("line %d %q is %d wide, limit %d", i, l, w, limit)
				}
			}
		}
		strip := func(s string) string { return strings.NewReplacer(" ", "", "\n", "").Replace(s) }
		if got, want := strip(strings.Join(lines, "")), strip(in); got != want {
			t.Fatalf("text changed: %q -> %q", want, got)
		}
	})
}
