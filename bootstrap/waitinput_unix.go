//go:build unix

package bootstrap

import "syscall"

// hasInput reports whether a read of the socket fd would not block: it
// has input, is at its end, or has failed (the read will tell which).
// The socket is non-blocking (Go's poller owns it).
func hasInput(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return err != syscall.EAGAIN
}
