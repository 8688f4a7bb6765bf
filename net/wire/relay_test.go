package wire

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestValidateRelayToken(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{good, true},
		{strings.Repeat("-", 42) + "_", true},
		{"", false},
		{good[:42], false},
		{good + "A", false},
		{strings.Repeat("A", 42) + "=", false},
		{strings.Repeat("A", 42) + "+", false},
		{strings.Repeat("A", 41) + "é", false},
	} {
		if err := ValidateRelayToken(tc.tok); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.tok, err, tc.ok)
		}
	}
}

func TestRelayURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ws://127.0.0.1:8080", "ws://127.0.0.1:8080/relay"},
		{"wss://chat.example.org/", "wss://chat.example.org/relay"},
		{"wss://chat.example.org/parlance?x=1#f", "wss://chat.example.org/parlance/relay"},
		{"http://example.org", ""},
		{"ws://", ""},
	} {
		got, err := RelayURL(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("RelayURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzValidateRelayToken(f *testing.F) {
	f.Add(base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
	f.Add(strings.Repeat("A", 43))
	f.Add("short")
	f.Fuzz(func(t *testing.T, tok string) {
		if ValidateRelayToken(tok) != nil {
			return
		}
		// A valid token is 32 bytes in unpadded base64url, or close to it
		// (the last character may carry bits a strict decoder refuses).
		b, err := base64.RawURLEncoding.DecodeString(tok[:40])
		if err != nil || len(b) != 30 {
			t.Fatalf("valid token %q does not decode: %v", tok, err)
		}
	})
}

func FuzzRelayURL(f *testing.F) {
	for _, s := range []string{"ws://localhost:8080", "wss://Example.org/a/b?c", "ws://[::1]", "ws://h/%2F", "ws://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := RelayURL(s)
		if err != nil {
			return
		}
		u, err := url.Parse(r)
		if err != nil {
			t.Fatalf("RelayURL(%q) = %q, which does not parse: %v", s, r, err)
		}
		if !IsRelayPath(u.Path) || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("RelayURL(%q) = %q: path %q", s, r, u.Path)
		}
	})
}
