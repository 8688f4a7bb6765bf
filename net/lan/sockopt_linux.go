//go:build linux

package lan

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/parlance-chat/parlance/net/internal/sockopt"
)

// bindToGroup: the receive socket binds group:port, so it gets only
// datagrams sent to the group.
const bindToGroup = true

// controlReuse sets SO_REUSEADDR and SO_REUSEPORT, so that many instances
// on one machine share the port and each hears every datagram, and clears
// IP_MULTICAST_ALL, so the socket hears the group only on the interfaces
// it joined (not on those another program joined).
func controlReuse(network, address string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		s := int(fd)
		opErr = sockopt.SetReuse(s)
		if opErr == nil {
			opErr = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}
