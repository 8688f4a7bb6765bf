package identity

import (
	"crypto/x509"
	"testing"
)

// TestCertificatePeerID: the certificate an identity presents in TLS must
// give back its ID on the other side, and a certificate whose signature
// does not verify must not.
func TestCertificatePeerID(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	got, pub, err := PeerID(cert.Certificate)
	if err != nil {
		t.Fatalf("PeerID of own certificate: %v", err)
	}
	if got != id.ID() || !pub.Equal(id.PublicKey()) {
		t.Fatalf("PeerID = %s, want %s", got, id.ID())
	}

	parsed, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), cert.Certificate[0]...)
	tampered[len(tampered)-1] ^= 1 // inside the signature, the DER's last field
	if _, _, err := PeerID([][]byte{tampered}); err == nil {
		t.Fatalf("PeerID accepted a certificate with a broken signature (%s)", parsed.SignatureAlgorithm)
	}
	if _, _, err := PeerID(nil); err == nil {
		t.Fatal("PeerID accepted no certificate")
	}
}
