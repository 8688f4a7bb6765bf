package identity

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreate(dir)
	if err != nil || created || again.ID() != id.ID() {
		t.Fatalf("second LoadOrCreate: created=%v err=%v same=%v", created, err, again.ID() == id.ID())
	}
}

func TestKeyFileProblems(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantIn  string
	}{
		{"readable by others", func(t *testing.T, path string) { os.Chmod(path, 0o644) }, "chmod 600"},
		{"group writable", func(t *testing.T, path string) { os.Chmod(path, 0o620) }, "chmod 600"},
		{"garbage", func(t *testing.T, path string) { os.WriteFile(path, []byte("not a key"), 0o600) }, "corrupt"},
		{"truncated", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/2], 0o600)
		}, "corrupt"},
		{"empty (a crash before the first write)", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }, "corrupt"},
		{"a directory", func(t *testing.T, path string) { os.Remove(path); os.Mkdir(path, 0o700) }, "is a directory, not a key file"},
		// Issue 11, item 12: the type is told, not "chmod 600".
		{"a directory open to others", func(t *testing.T, path string) { os.Remove(path); os.Mkdir(path, 0o755) }, "is a directory, not a key file"},
		{"a named pipe", func(t *testing.T, path string) { os.Remove(path); syscall.Mkfifo(path, 0o644) }, "is a named pipe, not a key file"},
		{"huge", func(t *testing.T, path string) { os.WriteFile(path, make([]byte, 1<<20), 0o600) }, "not a key file"},
		{"bad der", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
		}, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := LoadOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, KeyFileName)
			tt.prepare(t, path)
			before := readRegular(path)
			_, _, err := LoadOrCreate(dir)
			if !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), tt.wantIn) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v; want ErrKeyFile naming the file and %q", err, tt.wantIn)
			}
			if after := readRegular(path); after != before {
				t.Fatal("an unusable key file was replaced")
			}
		})
	}
}

// readRegular reads path if it is a regular file (reading a named pipe
// would block), else returns its type.
func readRegular(path string) string {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return fmt.Sprint(info.Mode().Type(), err)
	}
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestIDForms(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	wire := id.ID()
	if len(wire) != IDLength {
		t.Fatalf("ID length %d", len(wire))
	}
	g := wire.Grouped()
	if strings.Count(g, "-") != 12 || len(wire.Short()) != 7 {
		t.Fatalf("grouped %q short %q", g, wire.Short())
	}
	for _, in := range []string{string(wire), g, strings.ToLower(g), strings.ReplaceAll(g, "-", " ")} {
		got, err := ParseID(in)
		if err != nil || got != wire {
			t.Errorf("ParseID(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ABC", strings.Repeat("1", IDLength), string(wire) + "A"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestSafetyCode(t *testing.T) {
	a, _ := Generate()
	b, _ := Generate()
	c, _ := Generate()
	ab := SafetyCode(a.ID(), b.ID())
	if ab != SafetyCode(b.ID(), a.ID()) {
		t.Fatal("safety code differs between the two sides")
	}
	if ab == SafetyCode(a.ID(), c.ID()) || ab == SafetyCode(c.ID(), b.ID()) {
		t.Fatal("safety code same for different key pairs")
	}
	if len(ab) != 23 || strings.Count(ab, " ") != 3 {
		t.Fatalf("safety code %q, want 4 groups of 5 digits", ab)
	}
}

func TestCertificateCarriesID(t *testing.T) {
	id, _ := Generate()
	cert, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	got, pub, err := PeerID(cert.Certificate)
	if err != nil || got != id.ID() || !pub.Equal(id.PublicKey()) {
		t.Fatalf("PeerID = %v, %v", got, err)
	}
	if _, _, err := PeerID(nil); !errors.Is(err, ErrNoPeerKey) {
		t.Fatalf("no certs: %v", err)
	}
	if _, _, err := PeerID([][]byte{[]byte("junk")}); err == nil {
		t.Fatal("junk certificate accepted")
	}
	_ = tls.Certificate{}
}

func TestSignVerify(t *testing.T) {
	id, _ := Generate()
	sig := id.Sign([]byte("nonce"))
	if !Verify(id.PublicKey(), []byte("nonce"), sig) || Verify(id.PublicKey(), []byte("other"), sig) || Verify(nil, []byte("nonce"), sig) {
		t.Fatal("signature check wrong")
	}
}
