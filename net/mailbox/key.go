// Package mailbox seals messages for a peer's mailbox at the bootstrap
// server, and opens the ones left for this node. It owns no goroutine and
// no socket: the app decides when to seal, the bootstrap client carries
// the bytes (wire.MailboxPut), the server keeps them (package bootstrap).
//
// Each node has a mailbox key: an HPKE key pair (DHKEM(X25519),
// HKDF-SHA256, ChaCha20-Poly1305, from crypto/hpke), kept in the profile
// beside identity.pem (KeyFileName, mode 0600). It publishes the public
// half as a wire.MailboxKey signed by its identity; a sender checks that
// signature against the recipient's pinned identity (VerifyKey) before it
// seals to the key.
//
// A sealed message (Seal) is HPKE single-shot encryption, its info naming
// the recipient, of a letter: the sender's identity and public key, the
// recipient's identity, the message (id, nickname, conversation, time,
// text) and the sender's Ed25519 signature over all of it (LetterMessage).
// The server, which holds only the sealed bytes, can neither read a letter
// nor forge one, nor hand one to anyone else: it is bound to one recipient
// twice, by the HPKE info and by the signature. It can replay a letter to
// its recipient, who drops it by its message id, or withhold it.
package mailbox

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// KeyFileName is the mailbox key's file in the profile.
const KeyFileName = "mailbox-key.pem"

// KeyLifetime is how long a published key record is valid: a node signs a
// new record (same key, new dates) at every connection, so only the key
// of a node away for longer than this stops being used by senders.
const KeyLifetime = 30 * 24 * time.Hour

const (
	pemType = "PARLANCE MAILBOX KEY" // the X25519 private key, RFC 9180 serialisation
)

// The HPKE suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
var (
	kem  = hpke.DHKEM(ecdh.X25519())
	kdf  = hpke.HKDFSHA256()
	aead = hpke.ChaCha20Poly1305()
)

// ErrKeyFile: the mailbox key file exists but cannot be used.
var ErrKeyFile = errors.New("mailbox key file unusable")

// Key is this node's mailbox key pair.
type Key struct {
	priv hpke.PrivateKey
}

// GenerateKey makes a new mailbox key.
func GenerateKey() (*Key, error) {
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate mailbox key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// LoadOrCreateKey loads the mailbox key of the profile dir, creating it
// (mode 0600) if there is none.
func LoadOrCreateKey(dir string) (k *Key, created bool, err error) {
	path := filepath.Join(dir, KeyFileName)
	k, err = LoadKey(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if k, err = GenerateKey(); err != nil {
		return nil, false, err
	}
	if err := k.Save(path); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// LoadKey reads a mailbox key file. A missing file is an error wrapping
// fs.ErrNotExist; one open to other users is refused.
func LoadKey(path string) (*Key, error) {
	block, err := identity.ReadKeyFile(identity.KeyFile{Path: path, PEMType: pemType, Err: ErrKeyFile,
		What: "mailbox key", Loss: "mail sealed to the old one is lost"})
	if err != nil {
		return nil, err
	}
	priv, err := kem.NewPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; move it away to make a new mailbox key", ErrKeyFile, path, err)
	}
	return &Key{priv: priv}, nil
}

// Save writes the key to path (mode 0600), which must not exist yet.
func (k *Key) Save(path string) error {
	der, err := k.priv.Bytes()
	if err != nil {
		return fmt.Errorf("encode mailbox key: %w", err)
	}
	if err := identity.WriteKeyFile(path, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		return fmt.Errorf("mailbox key file: %w", err)
	}
	return nil
}

// Public returns the serialised public key.
func (k *Key) Public() []byte { return k.priv.PublicKey().Bytes() }

// Publish returns the key record to publish, signed by id, valid from now
// for KeyLifetime.
func (k *Key) Publish(id *identity.Identity, now time.Time) wire.MailboxKey {
	rec := wire.MailboxKey{
		Identity:  id.ID().String(),
		PublicKey: id.PublicKey(),
		KEM:       kem.ID(),
		Key:       k.Public(),
		Created:   now.Unix(),
		Expires:   now.Add(KeyLifetime).Unix(),
	}
	rec.Signature = id.Sign(rec.SignedBytes())
	return rec
}

// Errors of VerifyKey (wrapped).
var (
	ErrKeyNotOwned = errors.New("mailbox key is not signed by the peer's identity")
	ErrKeyExpired  = errors.New("mailbox key record has expired")
)

// maxClockSkew is how far in the future a key record's creation may be.
const maxClockSkew = 24 * time.Hour

// VerifyKey checks that rec is a mailbox key of the peer want (its pinned
// identity), signed by it, and valid at now, and returns the key to seal
// to.
func VerifyKey(rec wire.MailboxKey, want identity.ID, now time.Time) (PublicKey, error) {
	if err := rec.Validate(); err != nil {
		return PublicKey{}, err
	}
	switch {
	case identity.ID(rec.Identity) != want:
		return PublicKey{}, fmt.Errorf("%w: it names %s, not %s", ErrKeyNotOwned, rec.Identity, want)
	case identity.IDFromPublicKey(rec.PublicKey) != want:
		return PublicKey{}, fmt.Errorf("%w: its public key is not %s's", ErrKeyNotOwned, want)
	case !identity.Verify(rec.PublicKey, rec.SignedBytes(), rec.Signature):
		return PublicKey{}, fmt.Errorf("%w: bad signature", ErrKeyNotOwned)
	case rec.KEM != kem.ID():
		return PublicKey{}, fmt.Errorf("mailbox key of KEM %#04x, want %#04x (X25519)", rec.KEM, kem.ID())
	case now.Unix() >= rec.Expires:
		return PublicKey{}, fmt.Errorf("%w on %s", ErrKeyExpired, time.Unix(rec.Expires, 0).UTC().Format(time.DateOnly))
	case time.Unix(rec.Created, 0).After(now.Add(maxClockSkew)):
		return PublicKey{}, errors.New("mailbox key record created in the future (" + strconv.FormatInt(rec.Created, 10) + ")")
	}
	pk, err := kem.NewPublicKey(rec.Key)
	if err != nil {
		return PublicKey{}, fmt.Errorf("mailbox key: %w", err)
	}
	return PublicKey{pk: pk, to: want}, nil
}

// PublicKey is a verified mailbox key of one peer.
type PublicKey struct {
	pk hpke.PublicKey
	to identity.ID
}

// Owner is the peer the key belongs to.
func (p PublicKey) Owner() identity.ID { return p.to }
