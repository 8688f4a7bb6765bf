package tui

import (
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
)

// Desktop notification methods (Options.Desktop).
const (
	NotifyOSC777 = "osc777" // ESC ] 777 ; notify ; title ; body BEL
	NotifyOSC9   = "osc9"   // ESC ] 9 ; body BEL
)

// maxNotifyText bounds the text of one desktop notification.
const maxNotifyText = 200

// notify tells the user of messages they are not looking at: the bell
// and/or a desktop notification, as the options say, once per batch of
// events. notes are "nick: text", already sanitised.
func (m *Model) notify(notes []string) tea.Cmd {
	if len(notes) == 0 || (!m.bell && len(m.desktop) == 0) {
		return nil
	}
	var b strings.Builder
	if len(m.desktop) > 0 {
		body := notes[len(notes)-1]
		if len(notes) > 1 {
			body = fmtCount(len(notes), "new message") + "; last: " + body
		}
		body = notifyText(body)
		for _, d := range m.desktop {
			var seq string
			switch d {
			case NotifyOSC777:
				seq = "\x1b]777;notify;Parlance;" + body + "\x07"
			case NotifyOSC9:
				seq = "\x1b]9;Parlance: " + body + "\x07"
			default:
				continue
			}
			if m.tmux {
				// tmux passes it on to the terminal (allow-passthrough on).
				seq = "\x1bPtmux;" + strings.ReplaceAll(seq, "\x1b", "\x1b\x1b") + "\x1b\\"
			}
			b.WriteString(seq)
		}
	}
	if m.bell {
		b.WriteByte('\a')
	}
	w, out := m.notifyOut, b.String()
	return func() tea.Msg {
		_, _ = w.Write([]byte(out))
		return nil
	}
}

// notifyText makes text fit in an escape sequence: one line, no control
// characters, no ";" (the separator of OSC 777's fields), at most
// maxNotifyText characters.
func notifyText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == ';':
			return ','
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxNotifyText {
		s = string(r[:maxNotifyText-1]) + "…"
	}
	return s
}

// mentions reports whether text names nick as a word (ignoring case).
func mentions(text, nick string) bool {
	if nick == "" {
		return false
	}
	lt, ln := strings.ToLower(text), strings.ToLower(nick)
	for i := 0; ; {
		j := strings.Index(lt[i:], ln)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(ln)
		if !isWordByte(lt, start-1) && !isWordByte(lt, end) {
			return true
		}
		i = start + 1
	}
}

// isWordByte reports whether s[i] is a letter, digit or underscore (false
// out of range).
func isWordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 0x80
}
