package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/parlance-chat/parlance/tui/textsafe"
)

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
		in = textsafe.Sanitize(in, true)
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
