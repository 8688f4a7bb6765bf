package command

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The file-transfer commands (issue 15). Their values stand apart from
// the main list so that other additions never collide with them.
const (
	SendFile  Kind = 1500 + iota // /sendfile <nick> <path>
	Accept                       // /accept [id]
	Reject                       // /reject [id]
	Transfers                    // /transfers
	Cancel                       // /cancel <id>
)

// maxPathCompletions bounds the completions of one path.
const maxPathCompletions = 200

// CompletePath completes the path of a partly typed "/sendfile <nick>
// <path>": the entries of the directory typed so far whose names start
// with the rest ("~/" is the home directory; hidden entries only when the
// rest starts with a dot). A directory completes with a trailing "/", a
// file with nothing after it. ok is false when the line is not at the
// path of /sendfile, so that other completion applies.
func CompletePath(line string, readDir func(string) ([]fs.DirEntry, error)) (out []string, ok bool) {
	name, rest, found := strings.Cut(line, " ")
	if !found || !strings.HasPrefix(name, "/") {
		return nil, false
	}
	if s, known := Lookup(name[1:]); !known || s.kind != SendFile {
		return nil, false
	}
	rest = strings.TrimLeft(rest, " ")
	var after string
	if _, a, quoted, err := quotedTarget(rest); err == nil && quoted {
		after = a
	} else if _, a, cut := strings.Cut(rest, " "); cut {
		after = strings.TrimLeft(a, " ")
	} else {
		return nil, false // still at the nickname
	}
	prefix := line[:len(line)-len(after)]
	typedDir, base := "", after
	if i := strings.LastIndexByte(after, '/'); i >= 0 {
		typedDir, base = after[:i+1], after[i+1:]
	}
	dir := typedDir
	switch {
	case dir == "":
		dir = "."
	case strings.HasPrefix(dir, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, true
		}
		dir = filepath.Join(home, dir[2:])
	}
	entries, err := readDir(dir)
	if err != nil {
		return nil, true
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		out = append(out, prefix+typedDir+n)
		if len(out) == maxPathCompletions {
			break
		}
	}
	return out, true
}
