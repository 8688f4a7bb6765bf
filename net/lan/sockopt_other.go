//go:build !unix

package lan

import "syscall"

// bindToGroup is false where a socket can't bind a multicast address
// (Windows): the receive socket binds 0.0.0.0:port.
const bindToGroup = false

// controlReuse sets nothing on systems without SO_REUSEPORT: there, only
// one instance per machine can hold the port.
func controlReuse(network, address string, c syscall.RawConn) error { return nil }
