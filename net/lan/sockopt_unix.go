//go:build unix && !linux

package lan

import "github.com/parlance-chat/parlance/net/internal/sockopt"

// bindToGroup: the receive socket binds group:port, so it gets only
// datagrams sent to the group.
const bindToGroup = true

// controlReuse sets SO_REUSEADDR and SO_REUSEPORT, so that many instances
// on one machine share the port and each hears every datagram.
var controlReuse = sockopt.ControlReuse
