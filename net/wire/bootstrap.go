package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Bootstrap (rendezvous) server messages travel as one JSON object per
// WebSocket text frame, tagged by "type". The original's messages and fields
// come first; the extensions (marked below) are sent by Parlance clients
// only to a server, and by a Parlance server only to clients whose register
// asked for them, so an original client never receives anything it cannot
// parse.

// Types of messages a client sends to the bootstrap server.
const (
	TypeRegister   = "register"
	TypeListPeers  = "list_peers"
	TypeHeartbeat  = "heartbeat"
	TypeUnregister = "unregister"
	// TypeAuth (extension) answers a challenge with a signature.
	TypeAuth = "auth"
)

// Types of messages the bootstrap server sends to a client.
const (
	TypeRegistered = "registered"
	TypePeerList   = "peer_list"
	TypeError      = "error"
	// TypePeerJoined (extension) pushes one new or changed peer.
	TypePeerJoined = "peer_joined"
	// TypePeerLeft (extension) pushes the departure of one peer.
	TypePeerLeft = "peer_left"
	// TypePeersJoined (extension) pushes several new or changed peers at
	// once, to a client that asked for FeatureBatch.
	TypePeersJoined = "peers_joined"
	// TypeChallenge (extension) asks a client that claimed an identity to
	// prove it holds the key.
	TypeChallenge = "challenge"
)

// Size limits of bootstrap messages.
const (
	// MaxClientMessage is the largest message a client may send (the
	// server's WebSocket read limit).
	MaxClientMessage = 64 << 10
	// MaxServerMessage is the largest message a client accepts from the
	// server. It is larger than MaxClientMessage because a peer_list grows
	// with the room: MaxPeerListEntries entries fit with room to spare.
	MaxServerMessage = 16 << 20
	// MaxPeerListEntries is the most entries a Parlance server puts in one
	// peer_list.
	MaxPeerListEntries = 20000
	// MaxRoomBytes is the longest room name.
	MaxRoomBytes = 64
	// MaxFeatures bounds the features list of register and registered.
	MaxFeatures = 16
	// MaxErrorBytes bounds the message of an error.
	MaxErrorBytes = 1024
	// NonceSize is the size of the nonce a Parlance server sends in a
	// challenge; a client accepts MinNonceSize to MaxNonceSize bytes.
	NonceSize    = 32
	MinNonceSize = 16
	MaxNonceSize = 256
)

// FeaturePush is the feature a client asks for in register to receive
// peer_joined and peer_left, and a server lists in registered when it
// will send them.
const FeaturePush = "push"

// FeatureBatch is the feature a push client asks for in register to
// receive peers_joined (several joins in one message) where the server
// would otherwise send a run of peer_joined; a server lists it in
// registered when it will.
const FeatureBatch = "peers_joined"

// FeatureReach is the feature a client with a proven identity asks for to
// have the server arrange connections to peers behind NATs (hole punching
// and the relay); a server lists it in registered when it will.
const FeatureReach = "reach"

// FeatureMailbox is the feature a client with a proven identity asks for
// to leave sealed messages for offline peers and fetch its own; a server
// lists it in registered when it keeps a mailbox.
const FeatureMailbox = "mailbox"

// AuthDomain starts the message a client signs to answer a challenge, so
// that the signature cannot be replayed in another protocol or by a client
// of the first version (whose message bound only the nonce).
const AuthDomain = "parlance-bootstrap-auth-v2\x00"

// MaxURLBytes bounds the server URL of an Auth.
const MaxURLBytes = 2048

// AuthMessage returns the bytes a client signs (and the server verifies)
// to answer a challenge. It binds the proof to one server and one
// register, so that neither a hostile server relaying another server's
// challenge nor anyone altering the register on the way can use it:
//
//	AuthDomain
//	uint16 big-endian length of the nonce ‖ nonce
//	uint16 big-endian length of serverURL ‖ serverURL
//	registerSum: the SHA-256 of the register frame, exactly the bytes sent
//
// serverURL is the server's URL as the client dialled it, in the form
// NormalizeServerURL returns (e.g. "wss://example.org:443/").
func AuthMessage(nonce []byte, serverURL string, registerSum [sha256.Size]byte) []byte {
	sum := registerSum
	out := make([]byte, 0, len(AuthDomain)+2+len(nonce)+2+len(serverURL)+len(sum))
	out = append(out, AuthDomain...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(nonce)))
	out = append(out, nonce...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(serverURL)))
	out = append(out, serverURL...)
	return append(out, sum[:]...)
}

// NormalizeServerURL returns the form of a bootstrap server URL that
// AuthMessage binds: the scheme (ws or wss) and host in lower case, the
// port always written (80 for ws, 443 for wss), the path ("/" if empty),
// and nothing else (no user, query or fragment). Client and server both
// normalise, so "ws://Example.org" and "ws://example.org:80/" are one URL.
func NormalizeServerURL(raw string) (string, error) {
	if len(raw) > MaxURLBytes {
		return "", fmt.Errorf("server URL of %d bytes is over the %d byte limit", len(raw), MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme != "ws" && scheme != "wss":
		return "", fmt.Errorf("server URL %q: want ws:// or wss://", raw)
	case u.Hostname() == "":
		return "", fmt.Errorf("server URL %q has no host", raw)
	case port == "" && scheme == "ws":
		port = "80"
	case port == "":
		port = "443"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return "", fmt.Errorf("server URL %q: bad port %q", raw, port)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		if ip, err := netip.ParseAddr(host); err != nil || ip.Zone() != "" {
			return "", fmt.Errorf("server URL %q: bad IPv6 host %q", raw, host)
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	out := scheme + "://" + net.JoinHostPort(host, port) + path
	if _, err := url.Parse(out); err != nil { // what url.Parse let through in raw
		return "", fmt.Errorf("server URL %q: %w", raw, err)
	}
	return out, nil
}

// ClientMessage is a message from a client to the bootstrap server:
// Register, ListPeers, Heartbeat, Unregister, Auth or Connect.
type ClientMessage interface {
	// ClientType returns the message's "type" tag.
	ClientType() string
}

// ServerMessage is a message from the bootstrap server to a client:
// Registered, PeerList, Error, PeerJoined, PeerLeft, PeersJoined,
// Challenge, ConnectOffer or ConnectFailed.
type ServerMessage interface {
	// ServerType returns the message's "type" tag.
	ServerType() string
}

// Register announces the client to the server. Nickname and LocalAddr are
// the original's fields; the rest are extensions, and a register that
// carries any of them marks its sender as a Parlance client.
type Register struct {
	Nickname string `json:"nickname"`
	// LocalAddr is the client's own idea of its TCP address; the original
	// sends "0.0.0.0:<tcp port>". The server takes the port from it.
	LocalAddr netip.AddrPort `json:"local_addr"`

	// Features (extension) lists what the client understands, e.g.
	// FeaturePush.
	Features []string `json:"features,omitempty"`
	// Room (extension) names the group of peers the client wants to see;
	// empty is the shared default room of the original.
	Room string `json:"room,omitempty"`
	// Identity (extension) is the client's peer ID, which it must prove by
	// answering a challenge. PublicKey is the Ed25519 key it is derived
	// from (base64 in JSON). Both or neither are set.
	Identity  string `json:"identity,omitempty"`
	PublicKey []byte `json:"public_key,omitempty"`
}

// ListPeers asks for the peer list.
type ListPeers struct{}

// Heartbeat keeps a registration alive (the server drops peers silent for
// 30 s). It has no reply.
type Heartbeat struct{}

// Unregister removes the client's registration. It has no reply.
type Unregister struct{}

// Auth (extension) answers a Challenge: Signature is the Ed25519
// signature of AuthMessage(nonce, URL, register frame) by the key of the
// register's identity, and URL the server URL that was signed (in the
// form of NormalizeServerURL).
type Auth struct {
	Signature []byte `json:"signature"`
	URL       string `json:"url"`
}

// Registered confirms a register.
type Registered struct {
	PeerID string `json:"peer_id"`
	// PublicAddr is the IP the server saw with the port of the register's
	// local_addr.
	PublicAddr netip.AddrPort `json:"public_addr"`
	// Features (extension) lists the requested features the server will
	// provide; only sent to clients that sent features.
	Features []string `json:"features,omitempty"`
}

// PeerList lists the peers of the caller's room, the caller included.
type PeerList struct {
	Peers []PeerInfo `json:"peers"`
	// Skipped counts entries ParseServerMessage left out because they did
	// not validate (an original server does not check what its clients
	// register). It is not encoded.
	Skipped int `json:"-"`
}

// PeerInfo describes one registered peer.
type PeerInfo struct {
	PeerID     string         `json:"peer_id"`
	Nickname   string         `json:"nickname"`
	PublicAddr netip.AddrPort `json:"public_addr"`
	LocalAddr  netip.AddrPort `json:"local_addr"`
	// LastSeen is the Unix time in seconds of the peer's last register or
	// heartbeat.
	LastSeen int64 `json:"last_seen"`
	// Identity (extension) is the peer ID the peer proved to the server;
	// empty for an unverified peer. Only sent to Parlance clients.
	Identity string `json:"identity,omitempty"`
}

// Error reports a request the server did not accept.
type Error struct {
	Message string `json:"message"`
}

// PeerJoined (extension) pushes a peer that registered, or whose
// registration changed (same PeerID, new nickname or address).
type PeerJoined struct {
	Peer PeerInfo `json:"peer"`
}

// PeersJoined (extension) pushes several peers at once, in order, each
// as a PeerJoined would.
type PeersJoined struct {
	Peers []PeerInfo `json:"peers"`
}

// PeerLeft (extension) pushes the departure of a peer.
type PeerLeft struct {
	PeerID string `json:"peer_id"`
}

// Challenge (extension) asks the client to sign AuthMessage(Nonce, its
// server URL, its register frame) and send it back in an Auth. Nonce is
// base64 in JSON.
type Challenge struct {
	Nonce []byte `json:"nonce"`
}

func (Register) ClientType() string   { return TypeRegister }
func (ListPeers) ClientType() string  { return TypeListPeers }
func (Heartbeat) ClientType() string  { return TypeHeartbeat }
func (Unregister) ClientType() string { return TypeUnregister }
func (Auth) ClientType() string       { return TypeAuth }

func (Registered) ServerType() string  { return TypeRegistered }
func (PeerList) ServerType() string    { return TypePeerList }
func (Error) ServerType() string       { return TypeError }
func (PeerJoined) ServerType() string  { return TypePeerJoined }
func (PeerLeft) ServerType() string    { return TypePeerLeft }
func (PeersJoined) ServerType() string { return TypePeersJoined }
func (Challenge) ServerType() string   { return TypeChallenge }

// encodeTagged encodes body (a struct) as a JSON object whose first field
// is "type", as the original's serde encoding does.
func encodeTagged(typ string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	out := make([]byte, 0, len(b)+len(typ)+12)
	out = append(out, `{"type":"`...)
	out = append(out, typ...) // a constant of this package: no escaping needed
	out = append(out, '"')
	if len(b) > 2 { // more than "{}"
		out = append(out, ',')
		out = append(out, b[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

// MarshalClient validates m and encodes it as one bootstrap message.
func MarshalClient(m ClientMessage) ([]byte, error) {
	if err := validateClient(m); err != nil {
		return nil, err
	}
	var body any
	switch v := m.(type) {
	case Register:
		body = v
	case ListPeers, Heartbeat, Unregister:
		body = struct{}{}
	case Auth, Connect:
		body = v
	default:
		var ok bool
		if body, ok = marshalMailbox(m); !ok {
			return nil, fmt.Errorf("encode bootstrap message: unknown client message %T", m)
		}
	}
	b, err := encodeTagged(m.ClientType(), body)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxClientMessage {
		return nil, fmt.Errorf("%s of %d bytes is over the %d byte limit", m.ClientType(), len(b), MaxClientMessage)
	}
	return b, nil
}

// MarshalServer validates m and encodes it as one bootstrap message. A
// PeerList with no peers encodes as "peers":[] like the original's.
func MarshalServer(m ServerMessage) ([]byte, error) {
	if err := validateServer(m); err != nil {
		return nil, err
	}
	var body any
	switch v := m.(type) {
	case Registered, Error, PeerJoined, PeerLeft, Challenge, PeersJoined, ConnectOffer, ConnectFailed:
		body = v
	case PeerList:
		if v.Peers == nil {
			v.Peers = []PeerInfo{}
		}
		body = v
	default:
		var ok bool
		if body, ok = marshalMailbox(m); !ok {
			return nil, fmt.Errorf("encode bootstrap message: unknown server message %T", m)
		}
	}
	b, err := encodeTagged(m.ServerType(), body)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxServerMessage {
		return nil, fmt.Errorf("%s of %d bytes is over the %d byte limit", m.ServerType(), len(b), MaxServerMessage)
	}
	return b, nil
}

// PeerListHead and PeerListTail frame the entries of an encoded peer_list:
// PeerListHead, the entries as MarshalPeerInfo encodes them separated by
// commas, PeerListTail. MarshalServer(PeerList{...}) gives the same bytes;
// a server uses the pieces to share one encoded list among its clients.
const (
	PeerListHead = `{"type":"peer_list","peers":[`
	PeerListTail = `]}`
)

// PeersJoinedHead frames a peers_joined as PeerListHead frames a
// peer_list (the tail is PeerListTail).
const PeersJoinedHead = `{"type":"peers_joined","peers":[`

// MarshalPeerInfo validates p and encodes it as one entry of a peer_list.
func MarshalPeerInfo(p PeerInfo) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode peer: %w", err)
	}
	return b, nil
}

// ParseClientMessage decodes and validates one message from a client.
// Unknown fields are ignored, as the original does.
func ParseClientMessage(b []byte) (ClientMessage, error) {
	// The messages without fields, spelled exactly as the original
	// client and ours send them, skip the reflection-driven decoder. The
	// heartbeat is by far the most frequent message a server reads, and
	// the decoder's deep stack would otherwise grow the goroutine of every
	// idle connection (from 4 to 8 KB) at each one.
	switch string(b) {
	case `{"type":"heartbeat"}`:
		return Heartbeat{}, nil
	case `{"type":"list_peers"}`:
		return ListPeers{}, nil
	case `{"type":"unregister"}`:
		return Unregister{}, nil
	}
	typ, err := parseType(b, MaxClientMessage)
	if err != nil {
		return nil, err
	}
	var m ClientMessage
	switch typ {
	case TypeRegister:
		var raw struct {
			Nickname  *string         `json:"nickname"`
			LocalAddr *netip.AddrPort `json:"local_addr"`
			Features  []string        `json:"features"`
			Room      string          `json:"room"`
			Identity  string          `json:"identity"`
			PublicKey []byte          `json:"public_key"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		switch {
		case raw.Nickname == nil:
			return nil, errors.New("register without nickname")
		case raw.LocalAddr == nil:
			return nil, errors.New("register without local_addr")
		}
		m = Register{
			Nickname:  *raw.Nickname,
			LocalAddr: *raw.LocalAddr,
			Features:  nilIfEmpty(raw.Features),
			Room:      raw.Room,
			Identity:  raw.Identity,
			PublicKey: nilIfEmpty(raw.PublicKey),
		}
	case TypeListPeers:
		m = ListPeers{}
	case TypeHeartbeat:
		m = Heartbeat{}
	case TypeUnregister:
		m = Unregister{}
	case TypeAuth:
		var raw struct {
			Signature []byte `json:"signature"`
			URL       string `json:"url"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		m = Auth{Signature: raw.Signature, URL: raw.URL}
	case TypeConnect:
		if m, err = parseConnect(b); err != nil {
			return nil, err
		}
	default:
		mm, ok, err := parseMailboxClient(typ, b)
		if !ok {
			return nil, fmt.Errorf("unknown message type %q", typ)
		}
		if err != nil {
			return nil, err
		}
		m = mm
	}
	if err := validateClient(m); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseServerMessage decodes and validates one message from the server.
// Unknown fields are ignored. Entries of a peer_list that do not validate
// are left out and counted in PeerList.Skipped, so one bad registration on
// an original server does not hide every other peer.
func ParseServerMessage(b []byte) (ServerMessage, error) {
	typ, err := parseType(b, MaxServerMessage)
	if err != nil {
		return nil, err
	}
	var m ServerMessage
	switch typ {
	case TypeRegistered:
		var raw struct {
			PeerID     *string         `json:"peer_id"`
			PublicAddr *netip.AddrPort `json:"public_addr"`
			Features   []string        `json:"features"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		switch {
		case raw.PeerID == nil:
			return nil, errors.New("registered without peer_id")
		case raw.PublicAddr == nil:
			return nil, errors.New("registered without public_addr")
		}
		m = Registered{PeerID: *raw.PeerID, PublicAddr: *raw.PublicAddr, Features: nilIfEmpty(raw.Features)}
	case TypePeerList:
		var raw struct {
			Peers *[]json.RawMessage `json:"peers"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		if raw.Peers == nil {
			return nil, errors.New("peer_list without peers")
		}
		list := PeerList{Peers: make([]PeerInfo, 0, len(*raw.Peers))}
		for _, entry := range *raw.Peers {
			p, err := parsePeerInfo(entry)
			if err != nil {
				list.Skipped++
				continue
			}
			list.Peers = append(list.Peers, p)
		}
		m = list
	case TypeError:
		var raw struct {
			Message *string `json:"message"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		if raw.Message == nil {
			return nil, errors.New("error without message")
		}
		m = Error{Message: *raw.Message}
	case TypePeerJoined:
		var raw struct {
			Peer *json.RawMessage `json:"peer"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		if raw.Peer == nil {
			return nil, errors.New("peer_joined without peer")
		}
		p, err := parsePeerInfo(*raw.Peer)
		if err != nil {
			return nil, fmt.Errorf("peer_joined: %w", err)
		}
		m = PeerJoined{Peer: p}
	case TypePeersJoined:
		var raw struct {
			Peers *[]json.RawMessage `json:"peers"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		if raw.Peers == nil {
			return nil, errors.New("peers_joined without peers")
		}
		joined := PeersJoined{Peers: make([]PeerInfo, 0, len(*raw.Peers))}
		for i, entry := range *raw.Peers {
			p, err := parsePeerInfo(entry)
			if err != nil {
				return nil, fmt.Errorf("peers_joined entry %d: %w", i, err)
			}
			joined.Peers = append(joined.Peers, p)
		}
		m = joined
	case TypePeerLeft:
		var raw struct {
			PeerID *string `json:"peer_id"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		if raw.PeerID == nil {
			return nil, errors.New("peer_left without peer_id")
		}
		m = PeerLeft{PeerID: *raw.PeerID}
	case TypeChallenge:
		var raw struct {
			Nonce []byte `json:"nonce"`
		}
		if err := unmarshal(typ, b, &raw); err != nil {
			return nil, err
		}
		m = Challenge{Nonce: raw.Nonce}
	case TypeConnect:
		if m, err = parseConnectOffer(b); err != nil {
			return nil, err
		}
	case TypeConnectFailed:
		if m, err = parseConnectFailed(b); err != nil {
			return nil, err
		}
	default:
		mm, ok, err := parseMailboxServer(typ, b)
		if !ok {
			return nil, fmt.Errorf("unknown message type %q", typ)
		}
		if err != nil {
			return nil, err
		}
		m = mm
	}
	if err := validateServer(m); err != nil {
		return nil, err
	}
	return m, nil
}

// parseType checks the size of b and returns its "type" tag.
func parseType(b []byte, limit int) (string, error) {
	if len(b) > limit {
		return "", fmt.Errorf("message of %d bytes is over the %d byte limit", len(b), limit)
	}
	var env struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", fmt.Errorf("parse bootstrap message: %w", err)
	}
	if env.Type == nil {
		return "", errors.New("message without type")
	}
	return *env.Type, nil
}

func unmarshal(typ string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", typ, err)
	}
	return nil
}

func parsePeerInfo(b []byte) (PeerInfo, error) {
	var raw struct {
		PeerID     *string         `json:"peer_id"`
		Nickname   *string         `json:"nickname"`
		PublicAddr *netip.AddrPort `json:"public_addr"`
		LocalAddr  *netip.AddrPort `json:"local_addr"`
		LastSeen   *int64          `json:"last_seen"`
		Identity   string          `json:"identity"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return PeerInfo{}, fmt.Errorf("parse peer: %w", err)
	}
	switch {
	case raw.PeerID == nil:
		return PeerInfo{}, errors.New("peer without peer_id")
	case raw.Nickname == nil:
		return PeerInfo{}, errors.New("peer without nickname")
	case raw.PublicAddr == nil:
		return PeerInfo{}, errors.New("peer without public_addr")
	case raw.LocalAddr == nil:
		return PeerInfo{}, errors.New("peer without local_addr")
	case raw.LastSeen == nil:
		return PeerInfo{}, errors.New("peer without last_seen")
	}
	p := PeerInfo{
		PeerID:     *raw.PeerID,
		Nickname:   *raw.Nickname,
		PublicAddr: *raw.PublicAddr,
		LocalAddr:  *raw.LocalAddr,
		LastSeen:   *raw.LastSeen,
		Identity:   raw.Identity,
	}
	return p, p.validate()
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func validateClient(m ClientMessage) error {
	switch v := m.(type) {
	case Register:
		return v.validate()
	case Auth:
		if len(v.Signature) != ed25519.SignatureSize {
			return fmt.Errorf("auth signature of %d bytes, want %d", len(v.Signature), ed25519.SignatureSize)
		}
		if v.URL == "" {
			return errors.New("auth without url (a client of auth version 1?)")
		}
		if n, err := NormalizeServerURL(v.URL); err != nil {
			return fmt.Errorf("auth: %w", err)
		} else if n != v.URL {
			return fmt.Errorf("auth url %q is not normalised (want %q)", v.URL, n)
		}
	case Connect:
		return v.validate()
	case ListPeers, Heartbeat, Unregister:
	default:
		if ok, err := validateMailboxClient(m); ok {
			return err
		}
		return fmt.Errorf("unknown client message %T", m)
	}
	return nil
}

func validateServer(m ServerMessage) error {
	switch v := m.(type) {
	case Registered:
		if err := validatePeerID(v.PeerID); err != nil {
			return fmt.Errorf("registered: %w", err)
		}
		if !v.PublicAddr.IsValid() {
			return errors.New("registered: public_addr is not an address")
		}
		return validateFeatures(v.Features)
	case PeerList:
		for i, p := range v.Peers {
			if err := p.validate(); err != nil {
				return fmt.Errorf("peer_list entry %d: %w", i, err)
			}
		}
	case Error:
		if len(v.Message) > MaxErrorBytes {
			return fmt.Errorf("error message of %d bytes is over the %d byte limit", len(v.Message), MaxErrorBytes)
		}
	case PeerJoined:
		return v.Peer.validate()
	case PeersJoined:
		for i, p := range v.Peers {
			if err := p.validate(); err != nil {
				return fmt.Errorf("peers_joined entry %d: %w", i, err)
			}
		}
	case PeerLeft:
		return validatePeerID(v.PeerID)
	case Challenge:
		if n := len(v.Nonce); n < MinNonceSize || n > MaxNonceSize {
			return fmt.Errorf("challenge nonce of %d bytes, want %d to %d", n, MinNonceSize, MaxNonceSize)
		}
	case ConnectOffer:
		return v.validate()
	case ConnectFailed:
		return v.validate()
	default:
		if ok, err := validateMailboxServer(m); ok {
			return err
		}
		return fmt.Errorf("unknown server message %T", m)
	}
	return nil
}

func (r Register) validate() error {
	if err := ValidateNickname(r.Nickname); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := validateAddr("local_addr", r.LocalAddr); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := validateFeatures(r.Features); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := ValidateRoom(r.Room); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := validateID("identity", r.Identity); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	switch {
	case r.Identity == "" && r.PublicKey != nil:
		return errors.New("register: public_key without identity")
	case r.Identity != "" && len(r.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("register: identity needs a public_key of %d bytes, got %d", ed25519.PublicKeySize, len(r.PublicKey))
	}
	return nil
}

// Extended reports whether r carries any Parlance extension, i.e. whether
// it comes from a Parlance client that understands extension messages.
func (r Register) Extended() bool {
	return r.Features != nil || r.Room != "" || r.Identity != ""
}

// HasFeature reports whether f is in features.
func HasFeature(features []string, f string) bool {
	for _, x := range features {
		if x == f {
			return true
		}
	}
	return false
}

func (p PeerInfo) validate() error {
	if err := validatePeerID(p.PeerID); err != nil {
		return err
	}
	if err := ValidateNickname(p.Nickname); err != nil {
		return fmt.Errorf("peer %s: %w", p.PeerID, err)
	}
	if !p.PublicAddr.IsValid() {
		return fmt.Errorf("peer %s: public_addr is not an address", p.PeerID)
	}
	if !p.LocalAddr.IsValid() {
		return fmt.Errorf("peer %s: local_addr is not an address", p.PeerID)
	}
	return validateID("identity", p.Identity)
}

func validatePeerID(id string) error {
	if id == "" {
		return errors.New("empty peer_id")
	}
	return validateID("peer_id", id)
}

func validateAddr(field string, a netip.AddrPort) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("%s is not an address", field)
	case a.Port() == 0:
		return fmt.Errorf("%s has port 0", field)
	case a.Addr().Zone() != "":
		return fmt.Errorf("%s has a zone", field)
	}
	return nil
}

func validateFeatures(fs []string) error {
	if len(fs) > MaxFeatures {
		return fmt.Errorf("%d features, the limit is %d", len(fs), MaxFeatures)
	}
	for _, f := range fs {
		if f == "" {
			return errors.New("empty feature name")
		}
		if err := validateID("feature", f); err != nil {
			return err
		}
	}
	return nil
}

// ErrBadRoom is wrapped by every error ValidateRoom returns.
var ErrBadRoom = errors.New("invalid room name")

// ValidateRoom checks a room name: empty (the default room) or up to
// MaxRoomBytes bytes of valid UTF-8 without control characters or leading
// or trailing spaces.
func ValidateRoom(room string) error {
	if room == "" {
		return nil
	}
	return validateName(ErrBadRoom, room, MaxRoomBytes)
}
