package mailbox

import (
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Letter is a message as it travels sealed: who wrote it, to whom, and
// the message itself.
type Letter struct {
	// From is the author's identity, To the recipient's.
	From, To identity.ID
	// Nickname is the author's nickname when it wrote the letter.
	Nickname string
	// ID is the message id (as on the direct path: the recipient drops a
	// message it already has by it).
	ID string
	// Conv is the conversation; empty for a one-to-one message (the only
	// kind sealed today).
	Conv string
	// Sent is the author's timestamp (whole seconds).
	Sent time.Time
	Text string
	// Acks, in a receipt, are the ids of the recipient's messages that
	// the author committed (from the mailbox): the recipient marks them
	// delivered. A receipt has no Text.
	Acks []string
}

// IsReceipt reports whether l is a receipt rather than a message.
func (l Letter) IsReceipt() bool { return len(l.Acks) > 0 }

// Domains of what is signed and of the HPKE info.
const (
	LetterDomain = "parlance-mailbox-letter-v1\x00"
	InfoDomain   = "parlance-mailbox-seal-v1\x00"
)

// MaxTextBytes is the longest text a letter may carry: what fits in
// wire.MaxSealedBytes with the rest of the letter (base64 of nothing;
// the text is JSON-escaped, so the caller checks Seal's error too).
const MaxTextBytes = wire.MaxSealedBytes - 2048

// Errors of Open (wrapped), so that the caller can tell a forged letter
// from one it cannot read.
var (
	// ErrUnreadable: the sealed bytes do not open with this node's key
	// (sealed to another key, or damaged).
	ErrUnreadable = errors.New("sealed message cannot be opened with this node's mailbox key")
	// ErrForged: the letter opened but its signature or its recipient is
	// wrong: someone other than the sender it names made it.
	ErrForged = errors.New("sealed message is not signed by the sender it names")
)

// LetterMessage returns the bytes the author signs:
//
//	LetterDomain
//	uint16 len ‖ to, uint16 len ‖ from, uint16 len ‖ id,
//	uint16 len ‖ nickname, uint16 len ‖ conv,
//	int64 sent (Unix seconds), uint32 len ‖ text,
//	uint16 count of acks, then uint16 len ‖ ack for each
//
// (lengths and numbers big-endian).
func LetterMessage(l Letter) []byte {
	out := make([]byte, 0, len(LetterDomain)+len(l.To)+len(l.From)+len(l.ID)+len(l.Nickname)+len(l.Conv)+len(l.Text)+22)
	out = append(out, LetterDomain...)
	for _, s := range []string{string(l.To), string(l.From), l.ID, l.Nickname, l.Conv} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
		out = append(out, s...)
	}
	out = binary.BigEndian.AppendUint64(out, uint64(l.Sent.Unix()))
	out = binary.BigEndian.AppendUint32(out, uint32(len(l.Text)))
	out = append(out, l.Text...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(l.Acks)))
	for _, id := range l.Acks {
		out = binary.BigEndian.AppendUint16(out, uint16(len(id)))
		out = append(out, id...)
	}
	return out
}

// letter is the sealed plaintext, JSON.
type letter struct {
	V         int      `json:"v"`
	From      string   `json:"from"`
	PublicKey []byte   `json:"public_key"`
	To        string   `json:"to"`
	Nickname  string   `json:"nickname"`
	ID        string   `json:"id"`
	Conv      string   `json:"conv,omitempty"`
	Sent      int64    `json:"sent"`
	Text      string   `json:"text"`
	Acks      []string `json:"acks,omitempty"`
	Signature []byte   `json:"signature"`
}

// info is the HPKE info of a letter for recipient to.
func info(to identity.ID) []byte { return append([]byte(InfoDomain), to...) }

// Seal signs l as sender (l.From is set to the sender's identity, l.To to
// the key's owner) and seals it to key.
func Seal(sender *identity.Identity, key PublicKey, l Letter) ([]byte, error) {
	l.From, l.To = sender.ID(), key.to
	l.Sent = time.Unix(l.Sent.Unix(), 0)
	if err := checkLetter(l); err != nil {
		return nil, err
	}
	if len(l.Text) > MaxTextBytes {
		return nil, fmt.Errorf("message of %d bytes is too long for the mailbox (limit %d)", len(l.Text), MaxTextBytes)
	}
	plain, err := json.Marshal(letter{
		V: 1, From: string(l.From), PublicKey: sender.PublicKey(), To: string(l.To),
		Nickname: l.Nickname, ID: l.ID, Conv: l.Conv, Sent: l.Sent.Unix(), Text: l.Text, Acks: l.Acks,
		Signature: sender.Sign(LetterMessage(l)),
	})
	if err != nil {
		return nil, fmt.Errorf("encode letter: %w", err)
	}
	sealed, err := hpke.Seal(key.pk, kdf, aead, info(key.to), plain)
	if err != nil {
		return nil, fmt.Errorf("seal letter: %w", err)
	}
	if len(sealed) > wire.MaxSealedBytes {
		return nil, fmt.Errorf("sealed message of %d bytes is over the mailbox's %d byte limit", len(sealed), wire.MaxSealedBytes)
	}
	return sealed, nil
}

// Open opens a sealed letter for self with k, and checks that it is
// addressed to self and signed by the sender it names. It returns an
// error wrapping ErrUnreadable or ErrForged, or another for a letter
// that is malformed.
func Open(k *Key, self identity.ID, sealed []byte) (Letter, error) {
	if len(sealed) > wire.MaxSealedBytes {
		return Letter{}, fmt.Errorf("%w: %d bytes, over the %d byte limit", ErrUnreadable, len(sealed), wire.MaxSealedBytes)
	}
	plain, err := hpke.Open(k.priv, kdf, aead, info(self), sealed)
	if err != nil {
		return Letter{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	return parseLetter(plain, self)
}

// parseLetter decodes and checks an opened letter for self.
func parseLetter(plain []byte, self identity.ID) (Letter, error) {
	var raw letter
	if err := json.Unmarshal(plain, &raw); err != nil {
		return Letter{}, fmt.Errorf("%w: letter is not JSON: %v", ErrForged, err)
	}
	if raw.V != 1 {
		return Letter{}, fmt.Errorf("letter of version %d, want 1", raw.V)
	}
	l := Letter{From: identity.ID(raw.From), To: identity.ID(raw.To), Nickname: raw.Nickname, ID: raw.ID,
		Conv: raw.Conv, Sent: time.Unix(raw.Sent, 0), Text: raw.Text, Acks: raw.Acks}
	switch {
	case l.To != self:
		return Letter{}, fmt.Errorf("%w: addressed to %s", ErrForged, l.To)
	case len(raw.PublicKey) != ed25519.PublicKeySize || identity.IDFromPublicKey(raw.PublicKey) != l.From:
		return Letter{}, fmt.Errorf("%w: its public key is not %s's", ErrForged, l.From)
	case !identity.Verify(raw.PublicKey, LetterMessage(l), raw.Signature):
		return Letter{}, fmt.Errorf("%w: bad signature (claims to be from %s)", ErrForged, l.From)
	}
	if err := checkLetter(l); err != nil {
		return Letter{}, err
	}
	return l, nil
}

// checkLetter checks the fields a letter's recipient relies on.
func checkLetter(l Letter) error {
	if _, err := identity.ParseID(string(l.From)); err != nil {
		return fmt.Errorf("letter from: %w", err)
	}
	if err := wire.ValidateNickname(l.Nickname); err != nil {
		return fmt.Errorf("letter: %w", err)
	}
	if l.ID == "" || len(l.ID) > wire.MaxIDLength {
		return fmt.Errorf("letter id of %d bytes, want 1 to %d", len(l.ID), wire.MaxIDLength)
	}
	for i := 0; i < len(l.ID); i++ {
		if c := l.ID[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("letter id contains byte %#x", c)
		}
	}
	if len(l.Conv) > wire.MaxIDLength {
		return fmt.Errorf("letter conversation of %d bytes is over the %d byte limit", len(l.Conv), wire.MaxIDLength)
	}
	switch {
	case l.Text == "" && len(l.Acks) == 0:
		return errors.New("empty letter: no text and no acks")
	case l.Text != "" && len(l.Acks) > 0:
		return errors.New("letter with both text and acks")
	case len(l.Acks) > wire.MaxMailboxIDs:
		return fmt.Errorf("receipt of %d acks, the limit is %d", len(l.Acks), wire.MaxMailboxIDs)
	}
	for _, id := range l.Acks {
		if id == "" || len(id) > wire.MaxIDLength {
			return fmt.Errorf("receipt ack of %d bytes, want 1 to %d", len(id), wire.MaxIDLength)
		}
	}
	return nil
}
