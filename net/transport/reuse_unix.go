//go:build unix

package transport

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// punchableListen listens with SO_REUSEADDR and SO_REUSEPORT, so that
// Punch can dial from the listening port. Another program could then bind
// the port too; to keep the clear "address in use" when one already has,
// a fixed port is first bound plainly (and let go).
func punchableListen(addr string) (net.Listener, error) {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" && port != "" {
		probe, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		probe.Close()
	}
	lc := net.ListenConfig{Control: controlReuse}
	return lc.Listen(context.Background(), "tcp", addr)
}

// controlReuse sets SO_REUSEADDR and SO_REUSEPORT on a socket before it
// binds.
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
	if opErr != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", opErr)
	}
	return nil
}
