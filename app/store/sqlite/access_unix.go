//go:build unix

package sqlite

import "golang.org/x/sys/unix"

// writable reports why path cannot be written by this process, or nil.
func writable(path string) error { return unix.Access(path, unix.W_OK) }
