// Package ignore is the set of peers whose messages the user does not
// want to see (/ignore, /unignore), shared by the full-screen and the
// line UI. Their messages are dropped and counted, so the user can be told
// how many were not shown. It lives in memory only for now.
//
// A List is used from one goroutine (the UI's); it is not safe for
// concurrent use.
package ignore

import (
	"slices"

	"github.com/parlance-chat/parlance/app"
)

// List is the ignored peers, by key (so a new peer taking an ignored
// nickname is not ignored), with the messages dropped from each.
type List struct {
	dropped map[app.PeerKey]int
}

// New returns an empty list.
func New() *List { return &List{dropped: map[app.PeerKey]int{}} }

// Add ignores a peer; it reports false when the peer was already ignored.
func (l *List) Add(key app.PeerKey) bool {
	if _, ok := l.dropped[key]; ok {
		return false
	}
	l.dropped[key] = 0
	return true
}

// Remove stops ignoring a peer and returns how many of its messages were
// dropped meanwhile; ok is false when it was not ignored.
func (l *List) Remove(key app.PeerKey) (dropped int, ok bool) {
	dropped, ok = l.dropped[key]
	delete(l.dropped, key)
	return dropped, ok
}

// Has reports whether a peer is ignored.
func (l *List) Has(key app.PeerKey) bool {
	_, ok := l.dropped[key]
	return ok
}

// Drop reports whether a message from key is to be dropped, and counts it
// when it is.
func (l *List) Drop(key app.PeerKey) bool {
	n, ok := l.dropped[key]
	if ok {
		l.dropped[key] = n + 1
	}
	return ok
}

// Keys are the ignored peers, sorted.
func (l *List) Keys() []app.PeerKey {
	keys := make([]app.PeerKey, 0, len(l.dropped))
	for k := range l.dropped {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Dropped is how many messages from key were dropped.
func (l *List) Dropped(key app.PeerKey) int { return l.dropped[key] }
