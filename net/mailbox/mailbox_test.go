package mailbox

import (
	"bytes"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

type party struct {
	id  *identity.Identity
	key *Key
}

func newParty(t testing.TB) party {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return party{id, k}
}

// keyOf is what a sender gets after checking p's published key.
func keyOf(t testing.TB, p party) PublicKey {
	t.Helper()
	now := time.Now()
	pk, err := VerifyKey(p.key.Publish(p.id, now), p.id.ID(), now)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

var testLetter = Letter{Nickname: "alice", ID: "0123456789abcdef0123456789abcdef", Sent: time.Unix(1_800_000_000, 0), Text: "meet at noon"}

func TestSealOpen(t *testing.T) {
	a, b := newParty(t), newParty(t)
	sealed, err := Seal(a.id, keyOf(t, b), testLetter)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(testLetter.Text)) || bytes.Contains(sealed, []byte("alice")) {
		t.Fatal("sealed bytes contain plaintext")
	}
	l, err := Open(b.key, b.id.ID(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	want := testLetter
	want.From, want.To = a.id.ID(), b.id.ID()
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("opened %+v, want %+v", l, want)
	}

	// A receipt (acks, no text) goes the other way.
	rcpt := Letter{Nickname: "bob", ID: "fedcba9876543210fedcba9876543210", Sent: time.Unix(1_800_000_001, 0), Acks: []string{testLetter.ID}}
	sealed, err = Seal(b.id, keyOf(t, a), rcpt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(a.key, a.id.ID(), sealed)
	if err != nil || !got.IsReceipt() || !reflect.DeepEqual(got.Acks, rcpt.Acks) || got.From != b.id.ID() {
		t.Fatalf("receipt opened as %+v, %v", got, err)
	}
	for _, bad := range []Letter{{Nickname: "bob", ID: "x"}, {Nickname: "bob", ID: "x", Text: "t", Acks: []string{"y"}}} {
		if _, err := Seal(b.id, keyOf(t, a), bad); err == nil {
			t.Errorf("sealed %+v", bad)
		}
	}
}

// forge seals plaintext to p's key as a server that knows p's published
// key could.
func forge(t *testing.T, p party, plain []byte) []byte {
	t.Helper()
	pk := keyOf(t, p)
	sealed, err := hpke.Seal(pk.pk, kdf, aead, info(p.id.ID()), plain)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// open returns the letter inside sealed for p, by p's key: a test of what
// a recipient could re-seal.
func openRaw(t *testing.T, p party, sealed []byte) letter {
	t.Helper()
	plain, err := hpke.Open(p.key.priv, kdf, aead, info(p.id.ID()), sealed)
	if err != nil {
		t.Fatal(err)
	}
	var l letter
	if err := json.Unmarshal(plain, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestOpenRefuses(t *testing.T) {
	a, b, c, server := newParty(t), newParty(t), newParty(t), newParty(t)
	sealed, err := Seal(a.id, keyOf(t, b), testLetter)
	if err != nil {
		t.Fatal(err)
	}
	inner := openRaw(t, b, sealed)
	enc := func(l letter) []byte {
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name   string
		to     party
		sealed []byte
		want   error
	}{
		{"tampered ciphertext", b, func() []byte {
			x := bytes.Clone(sealed)
			x[len(x)-20] ^= 1
			return x
		}(), ErrUnreadable},
		{"truncated", b, sealed[:40], ErrUnreadable},
		{"other recipient's key", c, sealed, ErrUnreadable},
		{"forged by the server: claims a, signed by the server", b, func() []byte {
			l := inner
			l.Text = "send me your password"
			l.Signature = server.id.Sign(LetterMessage(Letter{From: a.id.ID(), To: b.id.ID(), Nickname: l.Nickname, ID: l.ID, Sent: time.Unix(l.Sent, 0), Text: l.Text}))
			return forge(t, b, enc(l))
		}(), ErrForged},
		{"forged: text changed, a's old signature", b, func() []byte {
			l := inner
			l.Text = "changed"
			return forge(t, b, enc(l))
		}(), ErrForged},
		{"forged: a's name on the server's key", b, func() []byte {
			l := inner
			l.PublicKey = server.id.PublicKey()
			l.Signature = server.id.Sign(LetterMessage(Letter{From: a.id.ID(), To: b.id.ID(), Nickname: l.Nickname, ID: l.ID, Sent: time.Unix(l.Sent, 0), Text: l.Text}))
			return forge(t, b, enc(l))
		}(), ErrForged},
		{"replayed by b to c", c, forge(t, c, enc(inner)), ErrForged},
		{"not JSON", b, forge(t, b, []byte("hello")), ErrForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.to.key, tt.to.id.ID(), tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %+v, %v; want %v", l, err, tt.want)
			}
		})
	}
}

func TestVerifyKey(t *testing.T) {
	a, b := newParty(t), newParty(t)
	now := time.Now()
	good := b.key.Publish(b.id, now)
	tests := []struct {
		name string
		rec  func() wire.MailboxKey
		want identity.ID
		at   time.Time
		ok   bool
	}{
		{"good", func() wire.MailboxKey { return good }, b.id.ID(), now, true},
		{"another peer's key", func() wire.MailboxKey { return good }, a.id.ID(), now, false},
		{"key swapped", func() wire.MailboxKey {
			r := good
			r.Key = a.key.Public()
			return r
		}, b.id.ID(), now, false},
		{"signed by a in b's name", func() wire.MailboxKey {
			r := a.key.Publish(a.id, now)
			r.Identity = string(b.id.ID())
			r.Signature = a.id.Sign(r.SignedBytes())
			return r
		}, b.id.ID(), now, false},
		{"expired", func() wire.MailboxKey { return good }, b.id.ID(), now.Add(KeyLifetime + time.Second), false},
		{"created in the future", func() wire.MailboxKey { return good }, b.id.ID(), now.Add(-2 * maxClockSkew), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyKey(tt.rec(), tt.want, tt.at)
			if (err == nil) != tt.ok {
				t.Fatalf("VerifyKey: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, created, err := LoadOrCreateKey(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateKey: %v, created=%v", err, created)
	}
	path := filepath.Join(dir, KeyFileName)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	again, created, err := LoadOrCreateKey(dir)
	if err != nil || created || !bytes.Equal(again.Public(), k.Public()) {
		t.Fatalf("reload: %v, created=%v, same=%v", err, created, bytes.Equal(again.Public(), k.Public()))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("a key open to others: %v, want ErrKeyFile", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(filepath.Join(dir, "bad.pem")); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("a corrupt key: %v, want ErrKeyFile", err)
	}
}

func TestSealTooLong(t *testing.T) {
	a, b := newParty(t), newParty(t)
	l := testLetter
	l.Text = string(bytes.Repeat([]byte("x"), MaxTextBytes+1))
	if _, err := Seal(a.id, keyOf(t, b), l); err == nil {
		t.Fatal("sealed a text over the limit")
	}
}

// FuzzParseLetter: an opened letter from anyone never panics the parser,
// and one it accepts is correctly signed and addressed.
func FuzzParseLetter(f *testing.F) {
	a, b := newParty(f), newParty(f)
	sealed, err := Seal(a.id, keyOf(f, b), testLetter)
	if err != nil {
		f.Fatal(err)
	}
	plain, err := hpke.Open(b.key.priv, kdf, aead, info(b.id.ID()), sealed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"to":"` + string(b.id.ID()) + `"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLetter(data, b.id.ID())
		if err != nil {
			return
		}
		if l.To != b.id.ID() {
			t.Fatalf("accepted a letter to %s", l.To)
		}
		if err := checkLetter(l); err != nil {
			t.Fatalf("accepted a letter that does not check: %v", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	alice, bob := newParty(b), newParty(b)
	pk := keyOf(b, bob)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(alice.id, pk, testLetter); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	alice, bob := newParty(b), newParty(b)
	sealed, err := Seal(alice.id, keyOf(b, bob), testLetter)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(bob.key, bob.id.ID(), sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineSignVerify is the baseline of Seal and Open in the same
// run: an Ed25519 signature and its check over the same letter, which
// both include.
func BenchmarkBaselineSignVerify(b *testing.B) {
	alice, bob := newParty(b), newParty(b)
	l := testLetter
	l.From, l.To = alice.id.ID(), bob.id.ID()
	msg := LetterMessage(l)
	b.ReportAllocs()
	for b.Loop() {
		if !identity.Verify(alice.id.PublicKey(), msg, alice.id.Sign(msg)) {
			b.Fatal("bad signature")
		}
	}
}
