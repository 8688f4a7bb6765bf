package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/parlance-chat/parlance/internal/confusable"
)

// MaxNicknameBytes is the longest nickname, in bytes, that the original
// accepts.
const MaxNicknameBytes = 32

// ErrBadNickname is wrapped by every error ValidateNickname returns.
var ErrBadNickname = errors.New("invalid nickname")

// ValidateNickname applies the original's nickname rules: 1 to 32 bytes of
// valid UTF-8, no control characters, no leading or trailing spaces.
func ValidateNickname(name string) error {
	if name == "" {
		return fmt.Errorf("%w: it is empty", ErrBadNickname)
	}
	return validateName(ErrBadNickname, name, MaxNicknameBytes)
}

// validateName checks a name (nickname or room) against the shared rules:
// at most limit bytes of valid UTF-8, no control characters, no leading or
// trailing spaces. Errors wrap kind.
func validateName(kind error, name string, limit int) error {
	switch {
	case len(name) > limit:
		return fmt.Errorf("%w: %d bytes, the limit is %d", kind, len(name), limit)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", kind)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: leading or trailing spaces", kind)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: contains a control character (%U)", kind, r)
		}
	}
	return nil
}

// FoldNickname returns the form in which two nicknames that look alike
// compare equal: NFKC-normalised, with invisible format characters
// (zero-width spaces, soft hyphens, bidi controls: Unicode category Cf)
// removed, case-folded, reduced to its confusables skeleton (UTS #39) and
// case-folded again. "Alice", "alice\u200b", "ali\u00adce", Cyrillic
// "\u0430lice", "a1ice" and "AL1CE" all fold alike. Case folding comes
// first so that "ALICE" is "alice": an upper-case "I" posing as an "l"
// ("ALlCE") is therefore not caught. It is for comparing, never for
// display.
func FoldNickname(name string) string {
	if folded, ok := foldASCII(name); ok {
		return folded
	}
	return foldSlow(name)
}

// asciiFold is the fold of each printable ASCII character alone. For a
// name of printable ASCII the fold is the folds of its characters joined
// (none of their prototypes combines with a neighbour), which is much
// cheaper than the general path; FuzzFoldNickname checks the two agree.
var asciiFold = func() (t [0x7f]string) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = foldSlow(string(rune(c)))
	}
	return t
}()

// foldASCII folds a name of printable ASCII; ok is false for any other.
func foldASCII(name string) (string, bool) {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c >= 0x7f {
			return "", false
		}
		b.WriteString(asciiFold[c])
	}
	return b.String(), true
}

// foldSlow is FoldNickname without the ASCII shortcut.
func foldSlow(name string) string {
	// A prototype may itself be something the other steps change ("%"
	// looks like "º/₀", which NFKC makes "o/0"): repeat until nothing
	// changes, so that a folded name folds to itself.
	for range 8 {
		next := foldOnce(name)
		if next == name {
			break
		}
		name = next
	}
	return name
}

func foldOnce(name string) string {
	name = norm.NFKC.String(name)
	name = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	// Folding again after the skeleton: prototypes may be upper case
	// ("0" looks like "O").
	fold := cases.Fold()
	return fold.String(confusable.Skeleton(fold.String(name)))
}
