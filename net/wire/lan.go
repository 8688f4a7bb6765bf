package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Original reports whether d carries none of Parlance's extension fields,
// i.e. whether it came from an original peer.
func (d Datagram) Original() bool { return d.Instance == "" && d.Identity == "" }

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
	var raw struct {
		Type     string  `json:"type"`
		Nickname string  `json:"nickname"`
		TCPPort  *uint16 `json:"tcp_port"`
		Instance string  `json:"instance"`
		Identity string  `json:"identity"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &raw); err != nil {
		return Datagram{}, fmt.Errorf("parse datagram: %w", err)
	}
	d := Datagram{Type: raw.Type, Nickname: raw.Nickname, Instance: raw.Instance, Identity: raw.Identity}
	if raw.Type == TypeAnnounce {
		if raw.TCPPort == nil {
			return Datagram{}, errors.New("announce without tcp_port")
		}
		d.TCPPort = *raw.TCPPort
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
	return validateID("identity", d.Identity)
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
