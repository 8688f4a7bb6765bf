package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Control frames travel between Parlance peers only, on TLS connections
// that negotiated ALPN "parlance/2" (never to an original peer, whose
// parser would drop them anyway: they have no from, content or timestamp).
// Each is one JSON line with a "type":
//
//	{"type":"ack","ids":["5b0e…","77a1…"]}   the receiver committed these messages
//	{"type":"read","ids":["5b0e…"]}          the receiver's user read them (opt-in)
//
// An ack is sent after the messages are committed to the receiver's
// database, on the connection they arrived on; duplicates are acknowledged
// again, so a sender that resends after a crash still gets its receipt.
type Control struct {
	Type string   `json:"type"`
	IDs  []string `json:"ids"`
}

// Control frame types.
const (
	ControlAck  = "ack"
	ControlRead = "read"
)

// MaxControlIDs bounds the ids of one control frame (a frame of that many
// 32-character ids stays well under MaxLine).
const MaxControlIDs = 1024

// AppendLine appends c as one line to buf.
func (c Control) AppendLine(buf []byte) ([]byte, error) {
	if err := c.validate(); err != nil {
		return buf, err
	}
	b, err := marshalJSON(c)
	if err != nil {
		return buf, fmt.Errorf("encode %s: %w", c.Type, err)
	}
	return append(append(buf, b...), '\n'), nil
}

func (c Control) validate() error {
	switch c.Type {
	case ControlAck, ControlRead:
	default:
		return fmt.Errorf("unknown control frame type %q", c.Type)
	}
	if len(c.IDs) == 0 {
		return fmt.Errorf("%s without ids", c.Type)
	}
	if len(c.IDs) > MaxControlIDs {
		return fmt.Errorf("%s with %d ids; at most %d", c.Type, len(c.IDs), MaxControlIDs)
	}
	for _, id := range c.IDs {
		if id == "" {
			return fmt.Errorf("%s with an empty id", c.Type)
		}
		if err := validateID("id", id); err != nil {
			return fmt.Errorf("%s: %w", c.Type, err)
		}
	}
	return nil
}

// Frame is one line received on a peer connection: a chat message or,
// between Parlance peers, a control frame.
type Frame struct {
	Message Message
	// Control is set for a control frame (and Message is then empty).
	Control *Control
}

var typeKey = []byte(`"type"`)

// ParseFrame decodes one line from a peer connection. Lines with a "type"
// are control frames; the rest are parsed as chat messages, exactly as
// ParseMessage does.
func ParseFrame(line []byte) (Frame, error) {
	if bytes.Contains(line, typeKey) {
		var probe struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(line), &probe); err == nil && probe.Type != nil {
			c, err := parseControl(line)
			if err != nil {
				return Frame{}, err
			}
			return Frame{Control: &c}, nil
		}
	}
	m, err := ParseMessage(line)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Message: m}, nil
}

func parseControl(line []byte) (Control, error) {
	if len(line) > MaxLine {
		return Control{}, fmt.Errorf("line of %d bytes is over the %d byte limit", len(line), MaxLine)
	}
	var c Control
	if err := json.Unmarshal(bytes.TrimSpace(line), &c); err != nil {
		return Control{}, fmt.Errorf("parse control frame: %w", err)
	}
	if c.Type == "" {
		return Control{}, errors.New("control frame without type")
	}
	if err := c.validate(); err != nil {
		return Control{}, err
	}
	return c, nil
}
