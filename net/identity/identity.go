// Package identity holds a node's long-term Ed25519 key pair and the peer
// ID derived from it: how it is generated, stored on disk, shown to people,
// presented in TLS and checked on the other side.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the name of the key file inside the data directory.
const KeyFileName = "identity.pem"

const pemType = "PRIVATE KEY" // PKCS #8

// maxKeyFile bounds the key file read (a real one is about 120 bytes).
const maxKeyFile = 16 << 10

// ID is a peer ID: the SHA-256 of the peer's Ed25519 public key in
// unpadded upper-case base32 (52 characters). It is what goes on the wire.
type ID string

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// IDLength is the length of an ID in characters.
const IDLength = 52

// IDFromPublicKey derives the peer ID of a public key.
func IDFromPublicKey(pub ed25519.PublicKey) ID {
	sum := sha256.Sum256(pub)
	return ID(b32.EncodeToString(sum[:]))
}

// ParseID accepts an ID as shown (grouped with dashes or spaces, any case)
// or as sent on the wire, and returns it in wire form.
func ParseID(s string) (ID, error) {
	clean := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(clean) != IDLength {
		return "", fmt.Errorf("peer ID has %d characters, want %d", len(clean), IDLength)
	}
	if _, err := b32.DecodeString(clean); err != nil {
		return "", fmt.Errorf("peer ID is not base32: %w", err)
	}
	return ID(clean), nil
}

// String returns the wire form.
func (id ID) String() string { return string(id) }

// Grouped returns the ID in groups of four characters joined by dashes, for
// reading aloud and comparing by eye.
func (id ID) Grouped() string {
	var b strings.Builder
	for i := 0; i < len(id); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(string(id[i:min(i+4, len(id))]))
	}
	return b.String()
}

// Short returns the first seven characters, enough to tell peers apart in a
// list.
func (id ID) Short() string { return string(id[:min(7, len(id))]) }

// Identity is a node's key pair.
type Identity struct {
	priv ed25519.PrivateKey
	id   ID
}

// Generate makes a new random identity.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	return FromPrivateKey(priv), nil
}

// FromPrivateKey wraps an existing Ed25519 private key.
func FromPrivateKey(priv ed25519.PrivateKey) *Identity {
	return &Identity{priv: priv, id: IDFromPublicKey(priv.Public().(ed25519.PublicKey))}
}

// ID returns the peer ID of this identity.
func (i *Identity) ID() ID { return i.id }

// PublicKey returns the public half of the key pair.
func (i *Identity) PublicKey() ed25519.PublicKey { return i.priv.Public().(ed25519.PublicKey) }

// PrivateKey returns the private key (for TLS).
func (i *Identity) PrivateKey() ed25519.PrivateKey { return i.priv }

// Sign signs msg with the identity key.
func (i *Identity) Sign(msg []byte) []byte { return ed25519.Sign(i.priv, msg) }

// ErrKeyFile is wrapped by every error about an unusable key file.
var ErrKeyFile = errors.New("identity key file unusable")

// LoadOrCreate loads the identity from dir/identity.pem, creating dir and a
// new key (mode 0600) when there is none. created reports a new key. A key
// file that exists but cannot be used is an error, never replaced.
func LoadOrCreate(dir string) (id *Identity, created bool, err error) {
	path := filepath.Join(dir, KeyFileName)
	id, err = Load(path)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	id, err = Generate()
	if err != nil {
		return nil, false, err
	}
	if err := id.Save(path); err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// Load reads an identity from a PEM (PKCS #8) key file. The file must not be
// readable or writable by group or others.
func Load(path string) (*Identity, error) {
	block, err := ReadKeyFile(KeyFile{Path: path, PEMType: pemType, Err: ErrKeyFile,
		What: "identity", Loss: "your contacts will see a new key"})
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is corrupt (%v); restore it from a backup, or move it away to start with a new identity (your contacts will see a new key)", ErrKeyFile, path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, not an Ed25519 key; move it away to start with a new identity", ErrKeyFile, path, key)
	}
	return FromPrivateKey(priv), nil
}

// KeyFile describes one of the profile's key files for ReadKeyFile.
type KeyFile struct {
	Path    string
	PEMType string // the type of its one PEM block
	Err     error  // wrapped by every error about the file (e.g. ErrKeyFile)
	What    string // what it holds, for "move it away to make a new <What>"
	Loss    string // what a new key costs its owner
}

// ReadKeyFile reads the PEM block of a key file that only its owner may
// read or write: a regular file (its type is checked before opening: a
// named pipe would block), of at most maxKeyFile bytes. Every error wraps
// k.Err, names the file and says what to do. The profile's keys (the
// identity, the mailbox key) are all read with it.
func ReadKeyFile(k KeyFile) (*pem.Block, error) {
	path := k.Path
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s, not a key file; move it away to make a new %s", k.Err, path, fileKind(info.Mode()), k.What)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open %s key: %w", k.What, err)
		}
		return nil, fmt.Errorf("%w: cannot read %s: %v; fix its permissions or move it away to make a new %s", k.Err, path, err, k.What)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: stat %s: %v", k.Err, path, err)
	}
	// The file type first: a directory's mode says nothing about a key.
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s, not a key file; move it away to make a new %s", k.Err, path, fileKind(info.Mode()), k.What)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o and is open to other users; run: chmod 600 %s (and consider the key compromised if others could read it)", k.Err, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v; fix the file or its disk, or move it away to make a new %s", k.Err, path, err, k.What)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is over %d bytes, so it is not a key file; restore it from a backup, or move it away to start with a new %s", k.Err, path, maxKeyFile, k.What)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != k.PEMType {
		return nil, fmt.Errorf("%w: %s is corrupt (no %q PEM block); restore it from a backup, or move it away to start with a new %s (%s)", k.Err, path, k.PEMType, k.What, k.Loss)
	}
	return block, nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// Save writes the identity to path with mode 0600. It refuses to overwrite
// an existing file. The key is written to a temporary file first and
// linked into place complete, so a crash never leaves a partial key file.
func (i *Identity) Save(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(i.priv)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	if err := WriteKeyFile(path, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		return fmt.Errorf("identity key file: %w", err)
	}
	return nil
}

// WriteKeyFile writes block as PEM to a new file at path with mode 0600
// (it refuses to overwrite one): to a temporary file first, synced and
// linked into place complete, so a crash never leaves a partial key. The
// profile's other keys (the mailbox key) are written with it too.
func WriteKeyFile(path string, block *pem.Block) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".key-*.pem") // mode 0600
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, block); err != nil {
		tmp.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
