package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/parlance-chat/parlance/tui/textsafe"
)

func TestLinkURLs(t *testing.T) {
	link := func(url, shown string) string { return "\x1b]8;;" + url + "\x07" + shown + "\x1b]8;;\x07" }
	long := "https://example.org/a/very/long/path/that/wraps?q=1"
	tests := []struct {
		name  string
		text  string
		width int
		want  []string
	}{
		{"no address", "just words", 40, []string{"just words"}},
		{"one address, punctuation left out", "see https://example.org/x.", 40,
			[]string{"see " + link("https://example.org/x", "https://example.org/x") + "."}},
		{"wrapped address: every piece links to all of it", "look: " + long, 20, []string{
			"look: " + link(long, long[:14]),
			link(long, long[14:34]),
			link(long, long[34:]),
		}},
		{"two lines of text", "a http://a.example\nb http://b.example", 40, []string{
			"a " + link("http://a.example", "http://a.example"),
			"b " + link("http://b.example", "http://b.example"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := wrapText(tt.text, tt.width, tt.width)
			got := linkURLs(tt.text, lines)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			for i := range got {
				if ansi.StringWidth(got[i]) != textWidth(lines[i]) || ansi.Strip(got[i]) != lines[i] {
					t.Errorf("line %d: the link changes its width or text: %q", i, got[i])
				}
			}
		})
	}
}

// TestLinksInMessages: on a terminal that shows colours, a web address in
// a message is a hyperlink; on plain output (tests, NO_COLOR) nothing is
// added.
func TestLinksInMessages(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(alice, "see https://example.org/x", testStart))
	if strings.Contains(h.m.View(), "\x1b]8;;") {
		t.Fatal("hyperlink on a plain-text output")
	}
	h.m.links = true
	h.m.current().clear()
	h.events(incoming(alice, "see https://example.org/x", testStart))
	if !strings.Contains(h.m.View(), "\x1b]8;;https://example.org/x\x07https://example.org/x\x1b]8;;\x07") {
		t.Fatalf("no hyperlink:\n%q", h.m.View())
	}
	h.wantScreen("alice: see https://example.org/x")
}

// FuzzLinkURLs: whatever a peer sends, links never change what a line
// shows or how wide it is.
func FuzzLinkURLs(f *testing.F) {
	f.Add("see https://example.org/x. and http://a.b/c?d=(e)", 12)
	f.Add("https://https://x\nhttp://", 3)
	f.Fuzz(func(t *testing.T, text string, width int) {
		text = textsafe.Sanitize(text, true)
		width = width%80 + 1
		if width < 1 {
			width += 80
		}
		lines := wrapText(text, width, width)
		got := linkURLs(text, lines)
		if len(got) != len(lines) {
			t.Fatalf("%d lines, want %d", len(got), len(lines))
		}
		for i := range got {
			if ansi.Strip(got[i]) != lines[i] || ansi.StringWidth(got[i]) != textWidth(lines[i]) {
				t.Fatalf("line %d changed: %q -> %q", i, lines[i], got[i])
			}
		}
	})
}

// FuzzNotifyText: a notification's text never carries a control
// character (which could end the escape sequence early) or a ";".
func FuzzNotifyText(f *testing.F) {
	f.Add("bob: hi;\x1b]0;x\x07 there\n")
	f.Fuzz(func(t *testing.T, s string) {
		got := notifyText(textsafe.Sanitize(s, true))
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == ';' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("notifyText(%q) = %q holds %U", s, got, r)
			}
		}
		if n := len([]rune(got)); n > maxNotifyText {
			t.Fatalf("%d characters", n)
		}
	})
}
