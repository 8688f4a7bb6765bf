// Package confusable finds names that look alike across scripts: the
// skeleton of Unicode Technical Standard #39 (Unicode Security
// Mechanisms, section 4), from the confusables.txt table generated into
// tables.go, and a mixed-script test.
//
// Two strings with the same Skeleton are confusable: Cyrillic "аlice"
// and Latin "alice", "paypa1" and "paypal", "rn" and "m".
package confusable

//go:generate go run gen.go

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// mapping is one line of confusables.txt: a code point and the prototype
// it looks like.
type mapping struct {
	from rune
	to   string
}

// prototype returns what r looks like, if confusables.txt maps it.
func prototype(r rune) (string, bool) {
	i := sort.Search(len(table), func(i int) bool { return table[i].from >= r })
	if i < len(table) && table[i].from == r {
		return table[i].to, true
	}
	return "", false
}

// asciiMapped holds the ASCII characters the table maps ("0", "1", "m",
// "|", ...).
var asciiMapped = func() (set [utf8.RuneSelf]bool) {
	for _, m := range table {
		if m.from < utf8.RuneSelf {
			set[m.from] = true
		}
	}
	return set
}()

// ASCIIUnchanged reports whether s is ASCII that Skeleton leaves as it
// is (no "0", "1", "m", "|", ... in it), for fast paths.
func ASCIIUnchanged(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || asciiMapped[s[i]] {
			return false
		}
	}
	return true
}

// Skeleton returns the UTS #39 skeleton of s: s in NFD, each code point
// replaced by its prototype, and the result in NFD again. It is for
// comparing, never for display.
func Skeleton(s string) string {
	s = norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for _, r := range s {
		if p, ok := prototype(r); ok {
			b.WriteString(p)
			changed = true
			continue
		}
		b.WriteRune(r)
	}
	if !changed {
		return s
	}
	return norm.NFD.String(b.String())
}

// MixedScript reports whether s mixes letters of more than one script, as
// "\u0430lice" with a Cyrillic "\u0430" does. Only letters count (digits,
// punctuation, symbols, marks and characters that draw as nothing do
// not), and, as in UTS #39's "highly restrictive" level, Latin may mix
// with the scripts of Japanese (Han, Hiragana, Katakana), Chinese (Han,
// Bopomofo) or Korean (Han, Hangul). It uses each letter's Script
// property, a simplification of UTS #39's resolved script set (which uses
// Script_Extensions).
func MixedScript(s string) bool {
	var other *unicode.RangeTable // the one script outside Latin and CJK
	latin, cjk := false, 0
	for _, r := range s {
		if r < utf8.RuneSelf {
			latin = latin || isASCIILetter(r)
			continue
		}
		if !unicode.IsLetter(r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			continue
		}
		sc := scriptOf(r)
		switch {
		case sc == nil:
		case sc == unicode.Latin:
			latin = true
		case cjkBit(sc) != 0:
			cjk |= cjkBit(sc)
		case other == nil:
			other = sc
		case other != sc:
			return true
		}
	}
	if other != nil {
		return latin || cjk != 0
	}
	// Latin and CJK scripts: one of the three writing systems, or none.
	const japanese, chinese, korean = cjkHan | cjkHiragana | cjkKatakana, cjkHan | cjkBopomofo, cjkHan | cjkHangul
	return cjk&^japanese != 0 && cjk&^chinese != 0 && cjk&^korean != 0
}

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

const (
	cjkHan = 1 << iota
	cjkHiragana
	cjkKatakana
	cjkHangul
	cjkBopomofo
)

func cjkBit(sc *unicode.RangeTable) int {
	switch sc {
	case unicode.Han:
		return cjkHan
	case unicode.Hiragana:
		return cjkHiragana
	case unicode.Katakana:
		return cjkKatakana
	case unicode.Hangul:
		return cjkHangul
	case unicode.Bopomofo:
		return cjkBopomofo
	}
	return 0
}

// likely are the scripts tried first, before all of unicode.Scripts.
var likely = []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Arabic, unicode.Hebrew}

// scriptOf returns r's script, or nil for Common, Inherited and
// unassigned code points.
func scriptOf(r rune) *unicode.RangeTable {
	if r < utf8.RuneSelf {
		if isASCIILetter(r) {
			return unicode.Latin
		}
		return nil
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return nil
	}
	for _, sc := range likely {
		if unicode.Is(sc, r) {
			return sc
		}
	}
	for _, sc := range unicode.Scripts {
		if sc != unicode.Common && sc != unicode.Inherited && unicode.Is(sc, r) {
			return sc
		}
	}
	return nil
}
