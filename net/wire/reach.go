package wire

import (
	"errors"
	"fmt"
	"net/netip"
)

// Reach (extension, FeatureReach): the bootstrap server arranges a
// connection between two peers that may both sit behind NATs. Only
// clients that proved an identity and asked for FeatureReach send or get
// these messages.
//
//	client → server  {"type":"connect","peer_id":"<identity of the peer to reach>"[,"proto":"…"]}
//	server → both    {"type":"connect","peer_id":"<the other's identity>",
//	                  "public_addr":"ip:port","local_addr":"ip:port",
//	                  "token":"…","relay":true|false[,"proto":"…"]}
//	server → client  {"type":"connect_failed","peer_id":"…","reason":"…"[,"proto":"…"]}
//
// The server sends the offer to both peers at once; each then punches
// (see transport.Punch) to the other's public_addr (its local_addr when
// their public IPs are equal: one LAN behind one NAT) and, if that fails
// and relay is true, opens the relayed stream that token names. A failed
// request is answered with connect_failed, never with error (which ends a
// client's session).
//
// proto (optional) says what the connection is for: absent, it becomes
// the peers' kept message connection; set, it is one stream speaking that
// ALPN protocol (e.g. "parlance-file/1", see transport.OpenStream),
// opened by the peer that asked. The server copies it from the connect to
// both offers and to connect_failed. A server or peer that predates it
// ignores it (the stream's attempt then finds no offer for it and fails).

// TypeConnect is a client's request to reach a peer (ClientType of
// Connect) and the server's offer to both peers (ServerType of
// ConnectOffer).
const TypeConnect = "connect"

// TypeConnectFailed is the server's answer to a connect it cannot
// arrange.
const TypeConnectFailed = "connect_failed"

// Reasons of a ConnectFailed.
const (
	// ReasonOffline: no peer of the caller's room has that identity and
	// takes FeatureReach (it is offline, or runs a client without it).
	ReasonOffline = "offline"
	// ReasonRateLimited: the caller sent connects faster than the server
	// allows; it may try again in a second.
	ReasonRateLimited = "rate_limited"
	// ReasonNotAllowed: the caller has no proved identity or did not ask
	// for FeatureReach.
	ReasonNotAllowed = "not_allowed"
	// ReasonSelf: the caller asked to reach its own identity.
	ReasonSelf = "self"
)

// Size limits of the reach messages.
const (
	// MaxTokenBytes bounds a relay token.
	MaxTokenBytes = 128
	// MaxReasonBytes bounds the reason of a connect_failed.
	MaxReasonBytes = 256
	// MaxProtoBytes bounds the proto of the reach messages (TLS bounds
	// an ALPN protocol to 255 bytes; ours are short).
	MaxProtoBytes = 64
)

// Connect (extension) asks the server to arrange a connection to the
// peer whose proved identity is PeerID.
type Connect struct {
	PeerID string `json:"peer_id"`
	// Proto is the stream protocol the connection is for; empty: the
	// kept message connection.
	Proto string `json:"proto,omitempty"`
}

// ConnectOffer (extension) tells a peer to connect to another now: the
// server sends one to each side of a Connect.
type ConnectOffer struct {
	// PeerID is the other peer's proved identity.
	PeerID string `json:"peer_id"`
	// PublicAddr is the other peer's address as the server observed it
	// (its IP, with the port of its local_addr).
	PublicAddr netip.AddrPort `json:"public_addr"`
	// LocalAddr is the other peer's own idea of its address, for two
	// peers on one LAN behind one NAT.
	LocalAddr netip.AddrPort `json:"local_addr"`
	// Token names the relayed stream reserved for the pair, when Relay
	// is true; empty otherwise.
	Token string `json:"token"`
	Relay bool   `json:"relay"`
	// Proto is the Connect's (the stream protocol, or empty).
	Proto string `json:"proto,omitempty"`
}

// ConnectFailed (extension) answers a Connect the server could not
// arrange; Reason is one of the Reason constants (or a newer server's).
type ConnectFailed struct {
	PeerID string `json:"peer_id"`
	Reason string `json:"reason"`
	// Proto is the Connect's (the stream protocol, or empty).
	Proto string `json:"proto,omitempty"`
}

func (Connect) ClientType() string       { return TypeConnect }
func (ConnectOffer) ServerType() string  { return TypeConnect }
func (ConnectFailed) ServerType() string { return TypeConnectFailed }

func parseConnect(b []byte) (ClientMessage, error) {
	var raw struct {
		PeerID *string `json:"peer_id"`
		Proto  string  `json:"proto"`
	}
	if err := unmarshal(TypeConnect, b, &raw); err != nil {
		return nil, err
	}
	if raw.PeerID == nil {
		return nil, errors.New("connect without peer_id")
	}
	return Connect{PeerID: *raw.PeerID, Proto: raw.Proto}, nil
}

func parseConnectOffer(b []byte) (ServerMessage, error) {
	var raw struct {
		PeerID     *string         `json:"peer_id"`
		PublicAddr *netip.AddrPort `json:"public_addr"`
		LocalAddr  *netip.AddrPort `json:"local_addr"`
		Token      string          `json:"token"`
		Relay      bool            `json:"relay"`
		Proto      string          `json:"proto"`
	}
	if err := unmarshal(TypeConnect, b, &raw); err != nil {
		return nil, err
	}
	switch {
	case raw.PeerID == nil:
		return nil, errors.New("connect without peer_id")
	case raw.PublicAddr == nil:
		return nil, errors.New("connect without public_addr")
	case raw.LocalAddr == nil:
		return nil, errors.New("connect without local_addr")
	}
	return ConnectOffer{PeerID: *raw.PeerID, PublicAddr: *raw.PublicAddr, LocalAddr: *raw.LocalAddr,
		Token: raw.Token, Relay: raw.Relay, Proto: raw.Proto}, nil
}

func parseConnectFailed(b []byte) (ServerMessage, error) {
	var raw struct {
		PeerID *string `json:"peer_id"`
		Reason *string `json:"reason"`
		Proto  string  `json:"proto"`
	}
	if err := unmarshal(TypeConnectFailed, b, &raw); err != nil {
		return nil, err
	}
	if raw.PeerID == nil || raw.Reason == nil {
		return nil, errors.New("connect_failed without peer_id or reason")
	}
	return ConnectFailed{PeerID: *raw.PeerID, Reason: *raw.Reason, Proto: raw.Proto}, nil
}

func (m Connect) validate() error {
	if err := validatePeerID(m.PeerID); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return validateProto("connect", m.Proto)
}

// validateProto checks the optional proto of a reach message.
func validateProto(typ, proto string) error {
	if len(proto) > MaxProtoBytes {
		return fmt.Errorf("%s: proto of %d bytes is over the %d byte limit", typ, len(proto), MaxProtoBytes)
	}
	if err := validateID("proto", proto); err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	return nil
}

func (m ConnectOffer) validate() error {
	if err := validatePeerID(m.PeerID); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := validateAddr("public_addr", m.PublicAddr); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if !m.LocalAddr.IsValid() || m.LocalAddr.Addr().Zone() != "" {
		return errors.New("connect: local_addr is not an address")
	}
	if len(m.Token) > MaxTokenBytes {
		return fmt.Errorf("connect: token of %d bytes is over the %d byte limit", len(m.Token), MaxTokenBytes)
	}
	if err := validateID("token", m.Token); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if m.Relay != (m.Token != "") {
		return errors.New("connect: relay and token must come together")
	}
	return validateProto("connect", m.Proto)
}

func (m ConnectFailed) validate() error {
	if err := validatePeerID(m.PeerID); err != nil {
		return fmt.Errorf("connect_failed: %w", err)
	}
	if len(m.Reason) > MaxReasonBytes {
		return fmt.Errorf("connect_failed: reason of %d bytes is over the %d byte limit", len(m.Reason), MaxReasonBytes)
	}
	if err := validateID("reason", m.Reason); err != nil {
		return err
	}
	return validateProto("connect_failed", m.Proto)
}
