//go:build !unix

// Package sockopt sets the socket options several packages share.
package sockopt

import "syscall"

// ControlReuse sets nothing on systems without SO_REUSEPORT: there, only
// one socket can bind a port.
func ControlReuse(network, address string, c syscall.RawConn) error { return nil }
