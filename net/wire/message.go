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
	present, err := decodeObject(bytes.TrimSpace(line), []field{
		{name: "from", set: stringInto(&m.From)},
		{name: "content", set: stringInto(&m.Content)},
		{name: "timestamp", set: func(v []byte) (err error) { m.Timestamp, err = jsonInt(v, 64); return err }},
		{name: "id", nullable: true, set: stringInto(&m.ID)},
	})
	if err != nil {
		return Message{}, fmt.Errorf("parse message: %w", err)
	}
	switch {
	case present&1 == 0:
		return Message{}, errors.New("message without from")
	case present&2 == 0:
		return Message{}, errors.New("message without content")
	case present&4 == 0:
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
