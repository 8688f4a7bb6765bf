package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parlance-chat/parlance/net/wire"
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

func TestName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"space inside", "Mary Ann", "Mary Ann"},
		{"unicode", "Zoë 世界 🙂", "Zoë 世界 🙂"},
		{"zero-width space", "alice\u200b", "alice<U+200B>"},
		{"soft hyphen", "ali\u00adce", "ali<U+00AD>ce"},
		{"zero-width joiner in ASCII", "ali\u200dce", "ali<U+200D>ce"},
		{"zero-width non-joiner at the end", "alice\u200c", "alice<U+200C>"},
		{"word joiner", "al\u2060ice", "al<U+2060>ice"},
		{"byte order mark", "\ufeffalice", "<U+FEFF>alice"},
		{"bidi override shown, not dropped", "alice\u202e", "alice<U+202E>"},
		{"bidi isolate", "\u2067bob\u2069", "<U+2067>bob<U+2069>"},
		{"arabic letter mark", "a\u061cb", "a<U+061C>b"},
		{"tag character", "x\U000E0041", "x<U+E0041>"},
		{"hangul filler", "alice\u3164", "alice<U+3164>"},
		{"combining grapheme joiner", "a\u034fb", "a<U+034F>b"},
		{"blank braille", "bob\u2800", "bob<U+2800>"},
		{"escape sequence", "mal\x1b[31mlory", "mal<U+001B>[31mlory"},
		{"bell and DEL", "a\ab\x7f", "a<U+0007>b<U+007F>"},
		{"C1", "a\u0085b", "a<U+0085>b"},
		{"newline and separator", "a\nb\u2028c", "a<U+000A>b<U+2028>c"},
		{"invalid UTF-8", "a\xffb", "a<U+FFFD>b"},
		{"replacement character itself", "a\ufffdb", "a\ufffdb"},
		{"literal marker", "alice<U+200B>", "alice<U+003C>U+200B>"},
		{"literal marker, lower case", "x<u+1>", "x<U+003C>u+1>"},
		{"other angle brackets kept", "<3 bob <U", "<3 bob <U"},
		{"emoji ZWJ sequence kept", "👩\u200d💻", "👩\u200d💻"},
		{"ZWNJ in Persian kept", "می\u200cخواهم", "می\u200cخواهم"},
		{"ZWJ after emoji, before ASCII", "👍\u200dx", "👍<U+200D>x"},
		{"two joiners", "世\u200d\u200d界", "世<U+200D><U+200D>界"},
		{"variation selector kept", "❤\ufe0f", "❤\ufe0f"},
		{"Cyrillic a among Latin marked", "\u0430lice", "\u0430lice" + MixedMark},
		{"Cyrillic e among Latin marked", "alic\u0435", "alic\u0435" + MixedMark},
		{"all Cyrillic not marked", "\u0430\u043b\u0438\u0441\u0430", "\u0430\u043b\u0438\u0441\u0430"},
		{"Japanese not marked", "山田たろう", "山田たろう"},
		{"Latin with digits and emoji not marked", "zoë 42 👍", "zoë 42 👍"},
		{"Greek omicron among Latin marked", "b\u03bfb", "b\u03bfb" + MixedMark},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Name(tt.in); got != tt.want {
				t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	groups := [][]string{
		{"alice", "Alice", "ALICE", "alice\u200b", "ali\u00adce", "al\u2060ice", "\ufeffalice", "alice\u202e", "ali\u200dce", "alice\u3164", "ａｌｉｃｅ", "alice\u2800"},
		{"Mary Ann", "mary  ann", "Mary\u00a0Ann", "Mary\u3000Ann", "Mary\u2003Ann", " Mary Ann "},
		{"❤bob", "❤\ufe0fbob"},
		{"straße", "STRASSE", "strasse"},
		{"ﬁsh", "fish"},
		{"👩\u200d💻", "👩💻"},
		// Look-alikes across scripts (UTS #39 skeleton): Cyrillic а and
		// е, Greek ο, digits posing as letters.
		{"alice", "\u0430lice", "alic\u0435", "\u0410LICE", "a1ice"},
		{"bob", "b\u03bfb", "b0b", "B0B"},
		{"tim", "tirn"},
	}
	for _, g := range groups {
		want := Fold(g[0])
		for _, s := range g[1:] {
			if got := Fold(s); got != want {
				t.Errorf("Fold(%q) = %q, want %q like Fold(%q)", s, got, want, g[0])
			}
		}
	}
	if Fold("alice") != "alice" || Fold("Mary Ann") != Fold("mary ann") {
		t.Errorf("Fold(alice) = %q, Fold(Mary Ann) = %q", Fold("alice"), Fold("Mary Ann"))
	}
	for _, pair := range [][2]string{{"alice", "alicf"}, {"bob", "bob2"}, {"Mary Ann", "MaryAnn"}, {"ian", "lan"}, {"alice", "alise"}} {
		if Fold(pair[0]) == Fold(pair[1]) {
			t.Errorf("Fold(%q) == Fold(%q)", pair[0], pair[1])
		}
	}
}

// FuzzName: Name's output is safe (Line leaves it as it is), shows every
// hidden character but a joiner inside a word, and tells different names
// apart.
func FuzzName(f *testing.F) {
	for _, s := range []string{"alice", "alice\u200b", "ali\u00adce", "<U+200B>", "👩\u200d💻", "\x1b[31m", "\xff", "a\u202eb"} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		out := Name(a)
		if !utf8.ValidString(out) {
			t.Fatalf("Name(%q) = %q: invalid UTF-8", a, out)
		}
		if Line(out) != out {
			t.Fatalf("Name(%q) = %q is changed by Line: %q", a, out, Line(out))
		}
		for i, r := range out {
			if isHidden(r) && !isJoiner(r) {
				t.Fatalf("Name(%q) = %q holds %U", a, out, r)
			}
			if isJoiner(r) {
				prev, _ := utf8.DecodeLastRuneInString(out[:i])
				if !shapes(prev) || !shapes(nextRune(out[i+utf8.RuneLen(r):])) {
					t.Fatalf("Name(%q) = %q holds a joiner outside a word", a, out)
				}
			}
		}
		if a != b && utf8.ValidString(a) && utf8.ValidString(b) && Name(a) == Name(b) {
			t.Fatalf("Name(%q) == Name(%q) == %q", a, b, out)
		}
	})
}

// FuzzFold: Fold has no hidden characters or stray spaces, ignores the
// hidden characters it is given, is never finer than wire.FoldNickname, and
// its ASCII shortcut agrees with the general path.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"alice", "Alice\u200b", "Mary  Ann", "ﬁsh", "straße", " x ", "❤\ufe0f", "\u0430lice", "b0b", "%m|", "ǅ"} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		fa := Fold(a)
		if strings.TrimSpace(fa) != fa || strings.Contains(fa, "  ") {
			t.Fatalf("Fold(%q) = %q has stray spaces", a, fa)
		}
		for _, r := range fa {
			if isHidden(r) {
				t.Fatalf("Fold(%q) = %q holds %U", a, fa, r)
			}
		}
		if got := Fold(a + "\u200b"); got != fa {
			t.Fatalf("Fold(%q + ZWSP) = %q, Fold(%q) = %q", a, got, a, fa)
		}
		if Fold(fa) != fa {
			t.Fatalf("Fold(%q) = %q, but Fold of that is %q: not idempotent", a, fa, Fold(fa))
		}
		if isPlainASCII(a) && foldSlow(a) != fa {
			t.Fatalf("Fold(%q): shortcut %q, general path %q", a, fa, foldSlow(a))
		}
		if wire.FoldNickname(a) == wire.FoldNickname(b) && fa != Fold(b) {
			t.Fatalf("wire.FoldNickname folds %q and %q together, Fold does not: %q, %q", a, b, fa, Fold(b))
		}
	})
}
