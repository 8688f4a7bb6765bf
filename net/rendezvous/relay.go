package rendezvous

import (
	"context"
	"errors"
	"net"
)

// ErrNoRelay: the live session's server offers no relay.
var ErrNoRelay = errors.New("the bootstrap server offers no relay")

// DialRelay opens the relayed byte stream that token (from the server's
// hole-punching offer) names, on the live session's server. The other
// peer dials with the same token; the server splices the two. The stream
// carries TLS between the peers, so the server sees only TLS records.
//
// Not built yet: the relay lands with issue 12.
func (c *Client) DialRelay(ctx context.Context, token string) (net.Conn, error) {
	return nil, ErrNoRelay
}
