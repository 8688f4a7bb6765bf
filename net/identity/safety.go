package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// SafetyCode derives the code two people compare out of band to check that
// each holds the other's real key. It is computed from both peer IDs (each
// the SHA-256 of a public key, so it binds the keys themselves), is
// symmetric (the same on both sides) and changes when either key changes:
// 20 decimal digits in groups of five.
func SafetyCode(a, b ID) string {
	if a > b {
		a, b = b, a
	}
	h := sha256.New()
	h.Write([]byte("parlance safety code v1\x00"))
	h.Write([]byte(a))
	h.Write([]byte{0})
	h.Write([]byte(b))
	sum := h.Sum(nil)
	groups := make([]string, 4)
	for i := range groups {
		v := binary.BigEndian.Uint64(sum[i*8:]) % 100000
		groups[i] = fmt.Sprintf("%05d", v)
	}
	return strings.Join(groups, " ")
}

// Verify reports whether sig is a valid signature of msg by pub.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}
