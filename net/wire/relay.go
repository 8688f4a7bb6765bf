package wire

import (
	"fmt"
	"net/url"
	"strings"
)

// The relay (Parlance extension, issue 12): when two peers cannot reach
// each other directly, each opens a WebSocket to RelayPath on the
// bootstrap server, naming in the RelayTokenHeader the token the server
// gave both of them, and the server splices the two. Each WebSocket
// binary message carries a piece of the peers' byte stream (their TLS
// records); no other message type is allowed. The server answers a
// refused token before the upgrade, with an HTTP status and a text.
const (
	// RelayPath is the path of the relay endpoint (after the server
	// URL's own path, if it has one).
	RelayPath = "/relay"
	// RelayTokenHeader carries the relay token in the upgrade request.
	RelayTokenHeader = "Parlance-Relay-Token"
	// RelayTokenLen is the length of a token: 32 bytes (a tag of the
	// server that issued it, then 26 random bytes) in unpadded base64url.
	RelayTokenLen = 43
	// MaxRelayMessage bounds one WebSocket message on a relay, both
	// ways; a relay end writes at most MaxRelayWrite per message.
	MaxRelayMessage = 64 << 10
	// MaxRelayWrite is the most bytes a relay end puts in one message
	// (a TLS record is at most about 16.4 KB).
	MaxRelayWrite = 32 << 10
)

// ValidateRelayToken checks that tok looks like a relay token: exactly
// RelayTokenLen characters of the base64url alphabet.
func ValidateRelayToken(tok string) error {
	if len(tok) != RelayTokenLen {
		return fmt.Errorf("relay token of %d characters, want %d", len(tok), RelayTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("relay token has a character outside base64url at %d", i)
		}
	}
	return nil
}

// RelayURL is the relay endpoint of the bootstrap server at serverURL
// (ws:// or wss://): its path with RelayPath appended, without query or
// fragment.
func RelayURL(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" || u.Host == "" {
		return "", fmt.Errorf("server URL %q: want ws://host:port or wss://host:port", serverURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + RelayPath
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u.String(), nil
}

// IsRelayPath reports whether a request path names the relay endpoint.
func IsRelayPath(p string) bool { return strings.HasSuffix(p, RelayPath) }
