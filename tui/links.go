package tui

import (
	"regexp"
	"strings"
)

// urlRE finds web addresses in message text. Punctuation that usually
// ends a sentence is not part of one.
var urlRE = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `]*[^\s<>"'` + "`" + `.,;:!?)\]]`)

// linkURLs makes the web addresses in the wrapped lines of text terminal
// hyperlinks (OSC 8). A link wrapped over several lines is one link on
// each of them, with the whole address, so clicking or copying any part
// gives all of it, whatever the pane's border and indent around it.
// Terminals without hyperlinks ignore the sequence. Only addresses that
// are shown are linked, each to itself, so a link cannot lead elsewhere
// than it says. lines are text as wrapText made them: its pieces, in
// order, without the spaces and newlines at the breaks.
func linkURLs(text string, lines []string) []string {
	urls := urlRE.FindAllStringIndex(text, -1)
	if urls == nil {
		return lines
	}
	out := make([]string, len(lines))
	pos := 0
	for i, l := range lines {
		out[i] = l
		start := strings.Index(text[pos:], l)
		if l == "" || start < 0 {
			continue
		}
		start += pos
		end := start + len(l)
		pos = end
		var b strings.Builder
		cur := start
		for _, u := range urls {
			s, e := max(u[0], start), min(u[1], end)
			if s >= e {
				continue
			}
			b.WriteString(text[cur:s])
			b.WriteString("\x1b]8;;" + text[u[0]:u[1]] + "\x07" + text[s:e] + "\x1b]8;;\x07")
			cur = e
		}
		if cur == start {
			continue // no address on this line
		}
		b.WriteString(text[cur:end])
		out[i] = b.String()
	}
	return out
}
