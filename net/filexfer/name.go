package filexfer

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSavedName bounds a saved file name, in bytes.
const MaxSavedName = 200

// SanitizeName turns a file name a peer offered into one that is safe to
// create in the download directory and to show on a terminal: only its
// last path element (either separator), no control or format characters
// (so no escape sequences or bidirectional overrides), none of the
// characters Windows forbids, no leading dots or spaces (no hidden files,
// no "..") and no trailing ones, not a Windows device name, at most
// MaxSavedName bytes with the extension kept. Nothing left gives "file".
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = cleanText(name)
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"|?*`, r) {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if isDeviceName(name) {
		name = "_" + name
	}
	if len(name) > MaxSavedName {
		ext := filepath.Ext(name)
		if len(ext) > 20 || !utf8.ValidString(ext) {
			ext = ""
		}
		name = strings.TrimRight(cut(name[:len(name)-len(ext)], MaxSavedName-len(ext)), ". ") + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

// cleanText drops invalid UTF-8 and control and format characters, and
// makes every other space a plain one.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// isDeviceName reports names Windows reserves for devices (CON, COM1.txt…).
func isDeviceName(name string) bool {
	base, _, _ := strings.Cut(strings.ToUpper(name), ".")
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	return len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9'
}

// numbered returns name with " (n)" before its extension.
func numbered(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := filepath.Ext(name)
	if ext == name { // ".bashrc"-like cannot happen after SanitizeName; be safe
		ext = ""
	}
	return fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n, ext)
}

// errNoFreeName: every numbered variant of a name exists.
var errNoFreeName = errors.New("no free file name")

// place gives the finished temporary file tmp its final name in dir: name,
// or the first free "name (n).ext". It never replaces an existing file: a
// hard link fails when the target exists, and only where links are not
// supported is it a check followed by a rename.
func place(fsys FS, tmp, dir, name string) (string, error) {
	for n := 0; n < 1000; n++ {
		final := filepath.Join(dir, numbered(name, n))
		err := fsys.Link(tmp, final)
		switch {
		case err == nil:
			if err := fsys.Remove(tmp); err != nil {
				return final, fmt.Errorf("remove temporary file: %w", err)
			}
			return final, nil
		case errors.Is(err, fs.ErrExist):
			continue
		}
		// No hard links here (some file systems): check, then rename.
		if _, serr := fsys.Stat(final); serr == nil {
			continue
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return "", fmt.Errorf("save %s: %w", final, serr)
		}
		if err := fsys.Rename(tmp, final); err != nil {
			return "", fmt.Errorf("save %s: %w", final, err)
		}
		return final, nil
	}
	return "", fmt.Errorf("save %s in %s: %w", name, dir, errNoFreeName)
}
