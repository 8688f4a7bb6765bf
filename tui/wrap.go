package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// textWidth is the display width of plain text in terminal cells, counted
// the way lipgloss and the Bubble Tea renderer count it (by grapheme
// cluster, wide characters as two).
func textWidth(s string) int { return ansi.StringWidth(s) }

// wrapText breaks plain (sanitised) text into lines of at most first cells
// for the first line and rest cells for the others. It breaks at spaces
// (or after a hyphen) where it can and inside a word that is wider than a
// line; a newline in s
// always starts a new line. Spaces at a break are dropped. Every line is at
// most its width, except that a single character wider than the width
// (a wide character in a one-cell line) still gets a line of its own.
func wrapText(s string, first, rest int) []string {
	first, rest = max(first, 1), max(rest, 1)
	w := lineWrapper{limit: first, rest: rest}
	for i, para := range strings.Split(s, "\n") {
		if i > 0 {
			w.breakLine(false)
		}
		w.paragraph(para)
	}
	w.breakLine(false)
	return w.lines
}

type lineWrapper struct {
	lines []string
	cur   strings.Builder
	curW  int
	limit int  // width of the line being built
	rest  int  // width of the lines after the first
	soft  bool // the line being built continues a wrapped one
}

// breakLine ends the current line; soft says the break is a wrap inside a
// paragraph rather than a newline of the text.
func (w *lineWrapper) breakLine(soft bool) {
	w.lines = append(w.lines, w.cur.String())
	w.cur.Reset()
	w.curW = 0
	w.limit = w.rest
	w.soft = soft
}

// paragraph adds text without newlines, word by word. Runs of spaces are
// kept inside a line and dropped where the line breaks.
func (w *lineWrapper) paragraph(p string) {
	for p != "" {
		n := strings.IndexByte(p, ' ')
		if n == 0 {
			// A run of spaces.
			n = len(p) - len(strings.TrimLeft(p, " "))
			switch {
			case w.curW == 0 && w.soft:
				// Spaces at a wrap are dropped.
			case w.curW+n < w.limit:
				w.cur.WriteString(p[:n])
				w.curW += n
			case w.curW > 0:
				w.breakLine(true)
			}
			p = p[n:]
			continue
		}
		if n < 0 {
			n = len(p)
		}
		// A line may also break after a hyphen (long IDs, compounds).
		if h := strings.IndexByte(p[:n], '-'); h >= 0 && h+1 < n {
			n = h + 1
		}
		w.word(p[:n])
		p = p[n:]
	}
}

func (w *lineWrapper) word(word string) {
	ww := textWidth(word)
	if w.curW+ww <= w.limit {
		w.cur.WriteString(word)
		w.curW += ww
		return
	}
	if w.curW > 0 && ww <= w.rest {
		// Trailing spaces of the line stay out of the way.
		line := strings.TrimRight(w.cur.String(), " ")
		w.cur.Reset()
		w.cur.WriteString(line)
		w.breakLine(true)
		w.cur.WriteString(word)
		w.curW = ww
		return
	}
	// Too long for any line: fill the line, then break inside the word,
	// one grapheme cluster at a time.
	for word != "" {
		cluster, cw := ansi.FirstGraphemeCluster(word, ansi.GraphemeWidth)
		if w.curW+cw > w.limit && w.curW > 0 {
			w.breakLine(true)
		}
		w.cur.WriteString(cluster)
		w.curW += cw
		word = word[len(cluster):]
	}
}

// padRight pads a (possibly styled) line with spaces to width cells. A line
// already that wide or wider is returned as it is.
func padRight(s string, width int) string {
	if n := width - ansi.StringWidth(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

// truncate shortens plain or styled text to at most width cells, ending it
// with "…" when something was cut.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}
