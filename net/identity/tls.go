package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Certificate returns a self-signed TLS certificate for the identity key.
// Its validity is irrelevant to Parlance (peers check the key, not the
// certificate chain) but is set wide so other tools accept it.
func (i *Identity) Certificate() (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(i.id)},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(20 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, i.PublicKey(), i.priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: i.priv}, nil
}

// ErrNoPeerKey is returned when the other side of a TLS connection presents
// no usable Ed25519 certificate.
var ErrNoPeerKey = errors.New("peer presented no Ed25519 certificate")

// PeerID returns the peer ID of the key in the first raw certificate of a
// TLS handshake, and checks that the certificate is signed by that key.
func PeerID(rawCerts [][]byte) (ID, ed25519.PublicKey, error) {
	if len(rawCerts) == 0 {
		return "", nil, ErrNoPeerKey
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return "", nil, fmt.Errorf("parse peer certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", nil, fmt.Errorf("%w (got %T)", ErrNoPeerKey, cert.PublicKey)
	}
	// CheckSignature, not CheckSignatureFrom: the certificate is a leaf
	// (not a CA), and CheckSignatureFrom refuses a parent that is not a CA.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return "", nil, fmt.Errorf("peer certificate is not self-signed by its key: %w", err)
	}
	return IDFromPublicKey(pub), pub, nil
}
