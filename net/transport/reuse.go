package transport

import (
	"context"
	"net"

	"github.com/parlance-chat/parlance/net/internal/sockopt"
)

// punchableListen listens with SO_REUSEADDR and SO_REUSEPORT (on Unix),
// so that Punch can dial from the listening port. Another program could
// then bind the port too; to keep the clear "address in use" when one
// already has, a fixed port is first bound plainly (and let go).
func punchableListen(addr string) (net.Listener, error) {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" && port != "" {
		probe, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		probe.Close()
	}
	lc := net.ListenConfig{Control: sockopt.ControlReuse}
	return lc.Listen(context.Background(), "tcp", addr)
}
