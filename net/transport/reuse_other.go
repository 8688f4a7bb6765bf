//go:build !unix

package transport

import (
	"net"
	"syscall"
)

// punchableListen is a plain listen: without SO_REUSEPORT, Punch cannot
// dial from the listening port and fails.
func punchableListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

var controlReuse func(network, address string, c syscall.RawConn) error
