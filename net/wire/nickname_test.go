package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNickname(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" means valid
	}{
		{"one byte", "a", ""},
		{"32 bytes", strings.Repeat("a", 32), ""},
		{"inner spaces", "alice in wonderland", ""},
		{"punctuation", "a.b-c_d@e<&>", ""},
		{"multi-byte within 32 bytes", strings.Repeat("é", 16), ""},
		{"emoji", "😀", ""},
		{"zero-width space inside (format, not control)", "a\u200bb", ""},

		{"empty", "", "it is empty"},
		{"33 bytes", strings.Repeat("a", 33), "33 bytes, the limit is 32"},
		{"bytes, not characters, count", strings.Repeat("é", 17), "34 bytes"},
		{"leading space", " alice", "leading or trailing spaces"},
		{"trailing space", "alice ", "leading or trailing spaces"},
		{"only a space", " ", "leading or trailing spaces"},
		{"leading tab", "\talice", "leading or trailing spaces"},
		{"trailing newline", "alice\n", "leading or trailing spaces"},
		{"leading no-break space", "\u00a0alice", "leading or trailing spaces"},
		{"trailing ideographic space", "alice\u3000", "leading or trailing spaces"},
		{"NUL inside", "al\x00ice", "control character (U+0000)"},
		{"escape inside", "al\x1b[31mice", "control character (U+001B)"},
		{"DEL inside", "al\x7fice", "control character (U+007F)"},
		{"C1 control inside", "al\u0085ice", "control character (U+0085)"},
		{"tab inside", "al\tice", "control character (U+0009)"},
		{"invalid UTF-8", "al\xffice", "not valid UTF-8"},
		{"truncated UTF-8", "alic\xc3", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateNickname(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateNickname(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateNickname(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, ErrBadNickname) {
				t.Errorf("error %v does not wrap ErrBadNickname", err)
			}
		})
	}
}

func TestFoldNickname(t *testing.T) {
	same := []string{"alice", "Alice", "ALICE", "alice\u200b", "ali\u00adce", "\u2066alice\u2069", "ａｌｉｃｅ", "alice\ufeff", "\u0430lice", "alic\u0435", "a1ice"}
	for _, s := range same {
		if got := FoldNickname(s); got != "alice" {
			t.Errorf("FoldNickname(%q) = %q, want alice", s, got)
		}
	}
	for _, s := range []string{"alicee", "al ice", "bob"} {
		if FoldNickname(s) == "alice" {
			t.Errorf("FoldNickname(%q) folds to alice", s)
		}
	}
}
