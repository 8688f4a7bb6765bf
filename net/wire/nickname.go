package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNicknameBytes is the longest nickname, in bytes, that the original
// accepts.
const MaxNicknameBytes = 32

// ErrBadNickname is wrapped by every error ValidateNickname returns.
var ErrBadNickname = errors.New("invalid nickname")

// ValidateNickname applies the original's nickname rules: 1 to 32 bytes of
// valid UTF-8, no control characters, no leading or trailing spaces.
func ValidateNickname(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: it is empty", ErrBadNickname)
	case len(name) > MaxNicknameBytes:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadNickname, len(name), MaxNicknameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadNickname)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: leading or trailing spaces", ErrBadNickname)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: contains a control character (%U)", ErrBadNickname, r)
		}
	}
	return nil
}
