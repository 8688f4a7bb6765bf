package tui

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"syscall"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/transport"
)

// sendErrorText says in plain words why a message to name was not sent
// ("bob is offline", "bob can't be reached (connection refused)"), never
// with Go's chain of wrapped errors; the whole chain goes to the log.
func sendErrorText(name string, err error) string {
	var (
		netErr net.Error
		errno  syscall.Errno
		recErr tls.RecordHeaderError
		alert  tls.AlertError
	)
	switch {
	case errors.Is(err, app.ErrOffline):
		return name + " is offline"
	case errors.Is(err, app.ErrUnknownPeer):
		return name + " is no longer known; wait until they are online again"
	case errors.Is(err, transport.ErrKeyMismatch):
		return "the peer at " + name + "'s address has another key (possible impersonation); nothing was sent"
	case errors.Is(err, transport.ErrPlaintextRefused):
		return name + " uses an original client without encryption, and require_encryption is on"
	case errors.Is(err, transport.ErrNoIdentity):
		return "this node has no identity key, so it cannot send encrypted"
	case errors.Is(err, context.DeadlineExceeded):
		return name + " did not answer in time; try again later"
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return "the network stopped"
	case errors.As(err, &errno) && errno == syscall.ECONNREFUSED:
		return name + " can't be reached (connection refused: parlance may have stopped there)"
	case errors.As(err, &errno) && (errno == syscall.EHOSTUNREACH || errno == syscall.ENETUNREACH):
		return name + " can't be reached (no route to their address)"
	case errors.As(err, &errno) && (errno == syscall.ECONNRESET || errno == syscall.EPIPE):
		return name + " can't be reached (the connection was cut)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return name + " can't be reached (no answer in time)"
	case errors.As(err, &recErr), errors.As(err, &alert):
		return name + " can't be reached (the secure connection failed)"
	}
	return name + " can't be reached (" + innermost(err) + ")"
}

// innermost is the text of the error at the end of err's chain: what
// went wrong, without the steps that led there.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
