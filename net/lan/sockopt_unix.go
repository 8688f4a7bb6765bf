//go:build unix && !linux

package lan

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindToGroup: the receive socket binds group:port, so it gets only
// datagrams sent to the group.
const bindToGroup = true

// controlReuse sets SO_REUSEADDR and SO_REUSEPORT, so that many instances
// on one machine share the port and each hears every datagram.
func controlReuse(network, address string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if opErr == nil {
			opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}
