package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// MaxDatagram is the largest LAN discovery datagram read or accepted
// (the original's receive buffer is 64 KiB).
const MaxDatagram = 64 << 10

// LAN datagram types.
const (
	TypeAnnounce = "announce"
	TypeGoodbye  = "goodbye"
)

// Datagram is one LAN discovery multicast packet: an announce or a goodbye.
//
// The original's fields come first; Instance and Identity are Parlance
// extensions that the original ignores. A datagram without them comes from
// an original peer.
type Datagram struct {
	Type     string `json:"type"`
	Nickname string `json:"nickname"`
	// TCPPort is the port the sender accepts messages on (announce only).
	TCPPort uint16 `json:"tcp_port,omitempty"`

	// Instance is random per start of a Parlance process: it tells a node
	// its own announces apart and two peers of one nickname apart.
	Instance string `json:"instance,omitempty"`
	// Identity is the sender's peer ID (the hash of its public key).
	Identity string `json:"identity,omitempty"`

	// A signed datagram (Sign) carries the sender's public key, the time
	// it was signed (Unix milliseconds) and an Ed25519 signature over
	// SignedBytes. All three are present or none.
	Time      int64  `json:"time_ms,omitempty"`
	PublicKey string `json:"public_key,omitempty"` // standard base64
	Signature string `json:"signature,omitempty"`  // standard base64
}

// Original reports whether d carries none of Parlance's extension fields,
// i.e. whether it came from an original peer.
func (d Datagram) Original() bool { return d.Instance == "" && d.Identity == "" }

// Signed reports whether d carries a signature (not whether it is valid:
// see Verify).
func (d Datagram) Signed() bool { return d.Signature != "" }

// LANSignDomain starts every signed LAN datagram's SignedBytes, so a
// signature made for anything else never passes for one.
const LANSignDomain = "parlance-lan-v1\x00"

// SignedBytes is what the signature of d covers, for a datagram sent from
// src (the IPv4 address of the interface it leaves by, which a receiver
// sees as the UDP source):
//
//	"parlance-lan-v1\x00"
//	‖ for type, nickname, instance, identity: uint16 big-endian length ‖ bytes
//	‖ uint16 big-endian tcp_port (0 for a goodbye)
//	‖ the 16-byte form of src (IPv4-mapped)
//	‖ int64 big-endian time_ms
func (d Datagram) SignedBytes(src netip.Addr) []byte {
	b := make([]byte, 0, len(LANSignDomain)+8+len(d.Type)+len(d.Nickname)+len(d.Instance)+len(d.Identity)+2+16+8)
	b = append(b, LANSignDomain...)
	for _, f := range []string{d.Type, d.Nickname, d.Instance, d.Identity} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	port := d.TCPPort
	if d.Type == TypeGoodbye {
		port = 0
	}
	b = binary.BigEndian.AppendUint16(b, port)
	a16 := src.Unmap().As16() // an IPv4 address in its IPv4-mapped form
	b = append(b, a16[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(d.Time))
}

// Sign sets d's time, public key and signature for sending from src.
// d.Identity must already be the ID of pub.
func (d *Datagram) Sign(priv ed25519.PrivateKey, src netip.Addr, now time.Time) {
	d.Time = now.UnixMilli()
	d.PublicKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	d.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, d.SignedBytes(src)))
}

// ErrBadSignature is wrapped by Verify's errors.
var ErrBadSignature = errors.New("bad datagram signature")

// Verify checks d's signature for a datagram received from src and returns
// the public key that made it. It does not check that the key belongs to
// d.Identity, nor the time: the receiver does.
func (d Datagram) Verify(src netip.Addr) (ed25519.PublicKey, error) {
	if !d.Signed() {
		return nil, fmt.Errorf("%w: not signed", ErrBadSignature)
	}
	pub, sig, err := d.signatureBytes()
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, d.SignedBytes(src), sig) {
		return nil, fmt.Errorf("%w: does not match (copied from another address, or altered)", ErrBadSignature)
	}
	return pub, nil
}

// PublicKeyBytes decodes d's public key (nil when d is not signed or the
// key does not decode).
func (d Datagram) PublicKeyBytes() ed25519.PublicKey {
	pub, _, err := d.signatureBytes()
	if err != nil {
		return nil
	}
	return pub
}

func (d Datagram) signatureBytes() (ed25519.PublicKey, []byte, error) {
	pub, err := base64.StdEncoding.DecodeString(d.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("%w: public_key is not a base64 Ed25519 key", ErrBadSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(d.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: signature is not a base64 Ed25519 signature", ErrBadSignature)
	}
	return pub, sig, nil
}

// MaxIDLength bounds the instance and identity fields of every message.
const MaxIDLength = 128

// Marshal encodes d as the original sends it: compact JSON with no newline.
// A goodbye carries no tcp_port.
func (d Datagram) Marshal() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if d.Type == TypeGoodbye {
		d.TCPPort = 0
	}
	return marshalJSON(d)
}

// ParseDatagram decodes and validates one LAN discovery datagram.
func ParseDatagram(b []byte) (Datagram, error) {
	if len(b) > MaxDatagram {
		return Datagram{}, fmt.Errorf("datagram of %d bytes is over the %d byte limit", len(b), MaxDatagram)
	}
	var d Datagram
	var port []byte // decoded once the type is known: a goodbye ignores it
	_, err := decodeObject(bytes.TrimSpace(b), []field{
		{name: "type", set: stringInto(&d.Type)},
		{name: "nickname", set: stringInto(&d.Nickname)},
		{name: "tcp_port", nullable: true, set: func(v []byte) error { port = v; return nil }},
		{name: "instance", nullable: true, set: stringInto(&d.Instance)},
		{name: "identity", nullable: true, set: stringInto(&d.Identity)},
		{name: "time_ms", nullable: true, set: func(v []byte) (err error) { d.Time, err = jsonInt(v, 64); return err }},
		{name: "public_key", nullable: true, set: stringInto(&d.PublicKey)},
		{name: "signature", nullable: true, set: stringInto(&d.Signature)},
	})
	if err != nil {
		return Datagram{}, fmt.Errorf("parse datagram: %w", err)
	}
	if d.Type == TypeAnnounce {
		if port == nil {
			return Datagram{}, errors.New("announce without tcp_port")
		}
		p, err := jsonInt(port, 17)
		if err != nil || p < 0 || p > 65535 {
			return Datagram{}, fmt.Errorf("parse datagram: tcp_port %.20s is not a port", port)
		}
		d.TCPPort = uint16(p)
	}
	if err := d.validate(); err != nil {
		return Datagram{}, err
	}
	return d, nil
}

func (d Datagram) validate() error {
	switch d.Type {
	case TypeAnnounce:
		if d.TCPPort == 0 {
			return errors.New("announce with tcp_port 0")
		}
	case TypeGoodbye:
	default:
		return fmt.Errorf("unknown datagram type %q", d.Type)
	}
	if err := ValidateNickname(d.Nickname); err != nil {
		return err
	}
	if err := validateID("instance", d.Instance); err != nil {
		return err
	}
	if err := validateID("identity", d.Identity); err != nil {
		return err
	}
	if d.Time == 0 && d.PublicKey == "" && d.Signature == "" {
		return nil
	}
	if d.Identity == "" {
		return errors.New("signed datagram without identity")
	}
	_, _, err := d.signatureBytes()
	return err
}

// validateID accepts an empty id or a printable ASCII token of bounded size.
func validateID(field, id string) error {
	if len(id) > MaxIDLength {
		return fmt.Errorf("%s of %d bytes is over the %d byte limit", field, len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%s contains byte %#x", field, c)
		}
	}
	return nil
}
