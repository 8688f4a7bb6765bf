package confusable

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestSkeleton(t *testing.T) {
	same := [][]string{
		{"alice", "\u0430lice", "alic\u0435", "\u0430l\u0456c\u0435"}, // Cyrillic а, і, е
		{"paypal", "paypa1", "pa\u0443pal"},                           // digit one, Cyrillic у
		{"rn", "m"},
		{"bOb", "b0b", "b\u039fb"}, // digit zero, Greek capital omicron
	}
	for _, g := range same {
		for _, s := range g[1:] {
			if Skeleton(s) != Skeleton(g[0]) {
				t.Errorf("Skeleton(%q) = %q, want %q like Skeleton(%q)", s, Skeleton(s), Skeleton(g[0]), g[0])
			}
		}
	}
	for _, pair := range [][2]string{{"alice", "alise"}, {"bob", "rob"}, {"ian", "lan"}} {
		if Skeleton(pair[0]) == Skeleton(pair[1]) {
			t.Errorf("Skeleton(%q) == Skeleton(%q)", pair[0], pair[1])
		}
	}
	if UnicodeVersion == "" || len(table) < 6000 {
		t.Errorf("table of %d mappings, version %q", len(table), UnicodeVersion)
	}
}

func TestTableSorted(t *testing.T) {
	for i := 1; i < len(table); i++ {
		if table[i-1].from >= table[i].from {
			t.Fatalf("table not sorted at %d: U+%04X, U+%04X", i, table[i-1].from, table[i].from)
		}
	}
}

func TestMixedScript(t *testing.T) {
	tests := []struct {
		in    string
		mixed bool
	}{
		{"alice", false},
		{"\u0430lice", true},
		{"alic\u0435", true},
		{"\u0430\u043b\u0438\u0441\u0430", false}, // all Cyrillic
		{"Zoë 世界 🙂", false},                       // Latin with Han
		{"山田たろう", false},                          // Japanese
		{"山田たろう Bob", false},
		{"김민수", false},
		{"김민수 たろう", true},      // Hangul with Hiragana
		{"alice\u3164", false}, // a Hangul filler draws as nothing
		{"a\u061cb", false},    // Arabic letter mark: not a letter
		{"bob\u2800", false},
		{"b\u03bfb", true},
		{"\u03b1\u0432", true}, // Greek with Cyrillic
		{"42 ☺", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := MixedScript(tt.in); got != tt.mixed {
			t.Errorf("MixedScript(%q) = %v, want %v", tt.in, got, tt.mixed)
		}
	}
}

func TestASCIIUnchanged(t *testing.T) {
	for c := rune(0); c < utf8.RuneSelf; c++ {
		s := string(c)
		if ASCIIUnchanged(s) != (Skeleton(s) == s) {
			t.Errorf("ASCIIUnchanged(%q) = %v, Skeleton = %q", s, ASCIIUnchanged(s), Skeleton(s))
		}
	}
}

// FuzzSkeleton: replacing a character by the prototype it looks like
// leaves the skeleton as it is, and nothing panics.
func FuzzSkeleton(f *testing.F) {
	for _, s := range []string{"alice", "\u0430lice", "paypa1", "m", "%", "\u00e9", "e\u0301", "\xff"} {
		f.Add(s, uint(0))
	}
	f.Fuzz(func(t *testing.T, s string, at uint) {
		sk := Skeleton(s)
		MixedScript(s)
		if !utf8.ValidString(s) || s == "" {
			return
		}
		runes := []rune(s)
		i := int(at % uint(len(runes)))
		p, ok := prototype(runes[i])
		if !ok {
			return
		}
		swapped := string(runes[:i]) + p + string(runes[i+1:])
		// NFD may decompose or reorder around the swap; compare only
		// when nothing there changes under NFD and no mark is involved.
		if !norm.NFD.IsNormalString(s) || !norm.NFD.IsNormalString(p) || strings.ContainsFunc(s+p, unicode.IsMark) {
			return
		}
		if got := Skeleton(swapped); got != sk {
			t.Fatalf("Skeleton(%q) = %q, but with %U swapped for its prototype %q: %q", s, sk, runes[i], p, got)
		}
	})
}
