package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// MaxLine is the longest message line accepted on a peer connection,
// newline included. A longer line closes the connection.
const MaxLine = 64 << 10

// Message is one chat message as it travels between peers: one JSON object
// followed by "\n".
//
// From, Content and Timestamp are the original's fields. ID is a Parlance
// extension: a unique id per message, on which acknowledgements and
// de-duplication build.
type Message struct {
	From      string `json:"from"`
	Content   string `json:"content"`
	Timestamp int64  `json:"timestamp"` // Unix seconds, set by the sender
	ID        string `json:"id,omitempty"`
}

// NewMessageID returns a random 128-bit message id in hex.
func NewMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// AppendLine appends m as one line (JSON and "\n") to buf.
func (m Message) AppendLine(buf []byte) ([]byte, error) {
	if err := m.validate(); err != nil {
		return buf, err
	}
	start := len(buf)
	b, err := marshalJSON(m)
	if err != nil {
		return buf, fmt.Errorf("encode message: %w", err)
	}
	buf = append(buf, b...)
	buf = append(buf, '\n')
	if len(buf)-start > MaxLine {
		return buf[:start], fmt.Errorf("message of %d bytes is over the %d byte line limit", len(buf)-start, MaxLine)
	}
	return buf, nil
}

// ParseMessage decodes one message line. The trailing "\n" or "\r\n" may be
// present or not. Like the original, it rejects a missing or non-integer
// timestamp and a field given twice, matches field names exactly (so
// "FROM" is an unknown field) and ignores unknown fields.
func ParseMessage(line []byte) (Message, error) {
	if len(line) > MaxLine {
		return Message{}, fmt.Errorf("line of %d bytes is over the %d byte limit", len(line), MaxLine)
	}
	var m Message
	var seen fieldSet
	err := eachMember(bytes.TrimSpace(line), func(key string, val []byte) error {
		var err error
		switch key { // exact names only, each once, like the original
		case "from":
			if err = seen.once(1, key); err == nil {
				m.From, err = jsonString(val)
			}
		case "content":
			if err = seen.once(2, key); err == nil {
				m.Content, err = jsonString(val)
			}
		case "timestamp":
			if err = seen.once(4, key); err == nil {
				m.Timestamp, err = jsonInt(val, 64)
			}
		case "id":
			if err = seen.once(8, key); err == nil && string(val) != "null" {
				m.ID, err = jsonString(val)
			}
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return Message{}, fmt.Errorf("parse message: %w", err)
	}
	switch {
	case seen&1 == 0:
		return Message{}, errors.New("message without from")
	case seen&2 == 0:
		return Message{}, errors.New("message without content")
	case seen&4 == 0:
		return Message{}, errors.New("message without timestamp")
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (m Message) validate() error {
	if err := ValidateNickname(m.From); err != nil {
		return fmt.Errorf("message from: %w", err)
	}
	return validateID("id", m.ID)
}
