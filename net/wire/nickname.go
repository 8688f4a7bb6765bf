package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
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
// compare equal: NFKC-normalised, case-folded, with invisible format
// characters (zero-width spaces, soft hyphens, bidi controls: Unicode
// category Cf) removed. "Alice", "alice\u200b" and "ali\u00adce" all fold
// to "alice". It is for comparing, never for display.
func FoldNickname(name string) string {
	name = norm.NFKC.String(name)
	name = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	return cases.Fold().String(name)
}
