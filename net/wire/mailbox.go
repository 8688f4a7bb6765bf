package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// The sealed mailbox (extension, FeatureMailbox): a client with a proved
// identity publishes a key that others seal messages to, leaves sealed
// messages for peers that are offline, and fetches and acknowledges its
// own. The server sees only ciphertext and routing metadata (who for, who
// from, size, time). Package net/mailbox seals and opens; package
// bootstrap stores.

// Types of mailbox messages a client sends.
const (
	// TypeMailboxKeyPut publishes the sender's signed mailbox key.
	TypeMailboxKeyPut = "mailbox_key_put"
	// TypeMailboxKeyGet asks for a peer's published mailbox key.
	TypeMailboxKeyGet = "mailbox_key_get"
	// TypeMailboxPut leaves a sealed message for a peer.
	TypeMailboxPut = "mailbox_put"
	// TypeMailboxFetch asks for the messages left for the sender.
	TypeMailboxFetch = "mailbox_fetch"
	// TypeMailboxAck deletes fetched messages the client committed.
	TypeMailboxAck = "mailbox_ack"
)

// Types of mailbox messages the server sends.
const (
	// TypeMailboxStatus tells a client granted FeatureMailbox, right
	// after registered and when mail arrives, how much waits for it.
	TypeMailboxStatus = "mailbox_status"
	// TypeMailboxKey answers mailbox_key_get.
	TypeMailboxKey = "mailbox_key"
	// TypeMailboxStored answers mailbox_put.
	TypeMailboxStored = "mailbox_stored"
	// TypeMailboxItems answers mailbox_fetch.
	TypeMailboxItems = "mailbox_items"
)

// Size limits of mailbox messages.
const (
	// MaxSealedBytes bounds one sealed message (its base64 fits in a
	// client message with room to spare).
	MaxSealedBytes = 40 << 10
	// MaxMailboxKeyBytes bounds a published KEM public key.
	MaxMailboxKeyBytes = 1024
	// MaxMailboxIDs bounds the ids of one mailbox_ack.
	MaxMailboxIDs = 256
	// MaxMailboxItems bounds the items of one mailbox_items.
	MaxMailboxItems = 256
)

// MailboxKeyDomain starts the bytes an identity signs to publish a
// mailbox key (MailboxKey.SignedBytes).
const MailboxKeyDomain = "parlance-mailbox-key-v1\x00"

// MailboxKey is a mailbox key published by the identity that owns it:
// an HPKE KEM public key (KEM is its RFC 9180 id, Key its serialisation),
// valid from Created to Expires (Unix seconds), signed by the Ed25519
// key PublicKey whose peer ID is Identity. Byte fields are base64 in JSON.
// A sender checks it against the recipient's pinned identity (package
// mailbox) before sealing to it.
type MailboxKey struct {
	Identity  string `json:"identity"`
	PublicKey []byte `json:"public_key"`
	KEM       uint16 `json:"kem"`
	Key       []byte `json:"key"`
	Created   int64  `json:"created"`
	Expires   int64  `json:"expires"`
	Signature []byte `json:"signature"`
}

// SignedBytes returns what the identity signs:
//
//	MailboxKeyDomain
//	uint16 big-endian len(identity) ‖ identity
//	uint16 big-endian kem
//	uint16 big-endian len(key) ‖ key
//	int64 big-endian created ‖ int64 big-endian expires
func (k MailboxKey) SignedBytes() []byte {
	out := make([]byte, 0, len(MailboxKeyDomain)+2+len(k.Identity)+4+len(k.Key)+16)
	out = append(out, MailboxKeyDomain...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(k.Identity)))
	out = append(out, k.Identity...)
	out = binary.BigEndian.AppendUint16(out, k.KEM)
	out = binary.BigEndian.AppendUint16(out, uint16(len(k.Key)))
	out = append(out, k.Key...)
	out = binary.BigEndian.AppendUint64(out, uint64(k.Created))
	return binary.BigEndian.AppendUint64(out, uint64(k.Expires))
}

// Validate checks the shape of k (not its signature: see package mailbox).
func (k MailboxKey) Validate() error {
	switch {
	case k.Identity == "":
		return errors.New("mailbox key without identity")
	case len(k.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("mailbox key: public_key of %d bytes, want %d", len(k.PublicKey), ed25519.PublicKeySize)
	case len(k.Key) == 0 || len(k.Key) > MaxMailboxKeyBytes:
		return fmt.Errorf("mailbox key: key of %d bytes, want 1 to %d", len(k.Key), MaxMailboxKeyBytes)
	case len(k.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("mailbox key: signature of %d bytes, want %d", len(k.Signature), ed25519.SignatureSize)
	case k.Expires <= k.Created:
		return errors.New("mailbox key expires before it is created")
	}
	return validateID("identity", k.Identity)
}

// MailboxKeyPut (client) publishes the client's own mailbox key; the
// server keeps it while the client is offline and hands it to senders.
type MailboxKeyPut struct {
	Key MailboxKey `json:"key"`
}

// MailboxKeyGet (client) asks for the published mailbox key of Identity.
type MailboxKeyGet struct {
	Identity string `json:"identity"`
}

// MailboxPut (client) leaves Sealed for the peer To. ID names the item
// (the sender uses the message id, so a put sent again is stored once).
type MailboxPut struct {
	To     string `json:"to"`
	ID     string `json:"id"`
	Sealed []byte `json:"sealed"`
}

// MailboxFetch (client) asks for the items left for the client, oldest
// first; the server answers with one mailbox_items.
type MailboxFetch struct{}

// MailboxAck (client) deletes the client's items with these ids.
type MailboxAck struct {
	IDs []string `json:"ids"`
}

// MailboxStatus (server) says how many items (and bytes) wait for the
// client.
type MailboxStatus struct {
	Count int `json:"count"`
	Bytes int `json:"bytes"`
}

// MailboxKeyReply (server, type mailbox_key) answers mailbox_key_get: Key
// is nil when the server holds none for Identity.
type MailboxKeyReply struct {
	Identity string      `json:"identity"`
	Key      *MailboxKey `json:"key,omitempty"`
}

// MailboxStored (server) answers mailbox_put: Error is empty when the
// item is stored (or was already), else why not (a limit, no such
// recipient key...).
type MailboxStored struct {
	To    string `json:"to"`
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// MailboxItems (server) answers mailbox_fetch with up to MaxMailboxItems
// items; More says that more wait (fetch again after acknowledging).
type MailboxItems struct {
	Items []MailboxItem `json:"items"`
	More  bool          `json:"more,omitempty"`
}

// MailboxItem is one stored item: who left it (the proved identity of the
// connection that put it), when (Unix seconds) and the sealed bytes.
type MailboxItem struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	At     int64  `json:"at"`
	Sealed []byte `json:"sealed"`
}

func (MailboxKeyPut) ClientType() string { return TypeMailboxKeyPut }
func (MailboxKeyGet) ClientType() string { return TypeMailboxKeyGet }
func (MailboxPut) ClientType() string    { return TypeMailboxPut }
func (MailboxFetch) ClientType() string  { return TypeMailboxFetch }
func (MailboxAck) ClientType() string    { return TypeMailboxAck }

func (MailboxStatus) ServerType() string   { return TypeMailboxStatus }
func (MailboxKeyReply) ServerType() string { return TypeMailboxKey }
func (MailboxStored) ServerType() string   { return TypeMailboxStored }
func (MailboxItems) ServerType() string    { return TypeMailboxItems }

// parseMailboxClient decodes a mailbox client message of type typ; ok is
// false when typ is not one.
func parseMailboxClient(typ string, b []byte) (m ClientMessage, ok bool, err error) {
	switch typ {
	case TypeMailboxKeyPut:
		var v struct {
			Key *MailboxKey `json:"key"`
		}
		if err := unmarshal(typ, b, &v); err != nil {
			return nil, true, err
		}
		if v.Key == nil {
			return nil, true, errors.New("mailbox_key_put without key")
		}
		return MailboxKeyPut{Key: *v.Key}, true, nil
	case TypeMailboxKeyGet:
		var v MailboxKeyGet
		return v, true, unmarshalInto(typ, b, &v, &m)
	case TypeMailboxPut:
		var v MailboxPut
		return v, true, unmarshalInto(typ, b, &v, &m)
	case TypeMailboxFetch:
		return MailboxFetch{}, true, nil
	case TypeMailboxAck:
		var v MailboxAck
		return v, true, unmarshalInto(typ, b, &v, &m)
	}
	return nil, false, nil
}

// parseMailboxServer decodes a mailbox server message of type typ; ok is
// false when typ is not one.
func parseMailboxServer(typ string, b []byte) (m ServerMessage, ok bool, err error) {
	switch typ {
	case TypeMailboxStatus:
		var v MailboxStatus
		err := unmarshal(typ, b, &v)
		return v, true, err
	case TypeMailboxKey:
		var v MailboxKeyReply
		err := unmarshal(typ, b, &v)
		return v, true, err
	case TypeMailboxStored:
		var v MailboxStored
		err := unmarshal(typ, b, &v)
		return v, true, err
	case TypeMailboxItems:
		var v struct {
			Items *[]MailboxItem `json:"items"`
			More  bool           `json:"more"`
		}
		if err := unmarshal(typ, b, &v); err != nil {
			return nil, true, err
		}
		if v.Items == nil {
			return nil, true, errors.New("mailbox_items without items")
		}
		return MailboxItems{Items: *v.Items, More: v.More}, true, nil
	}
	return nil, false, nil
}

// unmarshalInto decodes b into v (a pointer to a message value) and
// stores the decoded value in *m.
func unmarshalInto[T ClientMessage](typ string, b []byte, v *T, m *ClientMessage) error {
	if err := unmarshal(typ, b, v); err != nil {
		return err
	}
	*m = *v
	return nil
}

// validateMailboxClient checks a mailbox client message; ok is false when
// m is not one.
func validateMailboxClient(m ClientMessage) (ok bool, err error) {
	switch v := m.(type) {
	case MailboxKeyPut:
		return true, v.Key.Validate()
	case MailboxKeyGet:
		return true, validatePeerID(v.Identity)
	case MailboxPut:
		if err := validatePeerID(v.To); err != nil {
			return true, fmt.Errorf("mailbox_put to: %w", err)
		}
		if err := validatePeerID(v.ID); err != nil {
			return true, fmt.Errorf("mailbox_put id: %w", err)
		}
		if n := len(v.Sealed); n == 0 || n > MaxSealedBytes {
			return true, fmt.Errorf("mailbox_put: sealed message of %d bytes, want 1 to %d", n, MaxSealedBytes)
		}
		return true, nil
	case MailboxFetch:
		return true, nil
	case MailboxAck:
		if len(v.IDs) == 0 || len(v.IDs) > MaxMailboxIDs {
			return true, fmt.Errorf("mailbox_ack of %d ids, want 1 to %d", len(v.IDs), MaxMailboxIDs)
		}
		for _, id := range v.IDs {
			if err := validatePeerID(id); err != nil {
				return true, fmt.Errorf("mailbox_ack: %w", err)
			}
		}
		return true, nil
	}
	return false, nil
}

// validateMailboxServer checks a mailbox server message; ok is false when
// m is not one.
func validateMailboxServer(m ServerMessage) (ok bool, err error) {
	switch v := m.(type) {
	case MailboxStatus:
		if v.Count < 0 || v.Bytes < 0 {
			return true, errors.New("mailbox_status with a negative count")
		}
		return true, nil
	case MailboxKeyReply:
		if err := validatePeerID(v.Identity); err != nil {
			return true, fmt.Errorf("mailbox_key: %w", err)
		}
		if v.Key != nil {
			if err := v.Key.Validate(); err != nil {
				return true, err
			}
		}
		return true, nil
	case MailboxStored:
		if err := validatePeerID(v.To); err != nil {
			return true, fmt.Errorf("mailbox_stored to: %w", err)
		}
		if err := validatePeerID(v.ID); err != nil {
			return true, fmt.Errorf("mailbox_stored id: %w", err)
		}
		if len(v.Error) > MaxErrorBytes {
			return true, fmt.Errorf("mailbox_stored error of %d bytes is over the %d byte limit", len(v.Error), MaxErrorBytes)
		}
		return true, nil
	case MailboxItems:
		if len(v.Items) > MaxMailboxItems {
			return true, fmt.Errorf("mailbox_items of %d items, the limit is %d", len(v.Items), MaxMailboxItems)
		}
		for i, it := range v.Items {
			if err := it.validate(); err != nil {
				return true, fmt.Errorf("mailbox_items entry %d: %w", i, err)
			}
		}
		return true, nil
	}
	return false, nil
}

func (it MailboxItem) validate() error {
	if err := validatePeerID(it.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if err := validatePeerID(it.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if n := len(it.Sealed); n == 0 || n > MaxSealedBytes {
		return fmt.Errorf("sealed message of %d bytes, want 1 to %d", n, MaxSealedBytes)
	}
	return nil
}

// marshalMailbox returns the body to encode for a mailbox message (nil,
// false when m is not one).
func marshalMailbox(m any) (body any, ok bool) {
	switch v := m.(type) {
	case MailboxKeyPut, MailboxKeyGet, MailboxPut, MailboxAck,
		MailboxStatus, MailboxKeyReply, MailboxStored:
		return v, true
	case MailboxFetch:
		return struct{}{}, true
	case MailboxItems:
		if v.Items == nil {
			v.Items = []MailboxItem{}
		}
		return v, true
	}
	return nil, false
}
