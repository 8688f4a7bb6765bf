//go:build unix

// Package sockopt sets the socket options several packages share.
package sockopt

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// SetReuse sets SO_REUSEADDR and SO_REUSEPORT on a socket, so that
// several sockets can bind one port.
func SetReuse(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", err)
	}
	return nil
}

// ControlReuse is a Control function (net.ListenConfig, net.Dialer) that
// calls SetReuse before the socket binds.
func ControlReuse(network, address string, c syscall.RawConn) error {
	var opErr error
	if err := c.Control(func(fd uintptr) { opErr = SetReuse(int(fd)) }); err != nil {
		return err
	}
	return opErr
}
