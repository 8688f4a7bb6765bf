package wire

import (
	"strings"
	"testing"
)

// Fuzz tests of the parsers of outside bytes: a parser never panics, and
// whatever it accepts re-encodes to bytes that parse back to the same
// value.

func FuzzParseDatagram(f *testing.F) {
	for _, seed := range []string{
		`{"type":"announce","nickname":"alice","tcp_port":54321}`,
		`{"type":"goodbye","nickname":"alice"}`,
		`{"type":"announce","nickname":"alice","tcp_port":54321,"instance":"0123abcd","identity":"ABCDEF234567"}`,
		`{"type":"goodbye","nickname":"alice","tcp_port":9,"instance":"i","identity":"id"}`,
		"{\"type\":\"announce\",\"nickname\":\"Zo\u00eb \\u6f22\",\"tcp_port\":1}\n",
		`{"type":"announce","nickname":"a","tcp_port":1,"extra":{"x":[1,2,null]}}`,
		`{"type":"announce","nickname":"a","tcp_port":65536}`,
		`{"type":"announce","nickname":" a","tcp_port":1}`,
		`{"type":"announce","nickname":"a\u0000","tcp_port":1}`,
		`{"type":"hello"}`,
		`{"TYPE":"announce","Nickname":"a","TCP_PORT":1}`,
		`{"type":"announce","nickname":"a","nickname":"b","tcp_port":1}`,
		`{"type":"announce","nickname":"a","tcp_port":1,"identity":"X","time_ms":1,"public_key":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=","signature":"` + strings.Repeat("A", 86) + `=="}`,
		`[]`,
		``,
		`hello`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDatagram(b)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("parsed %+v from %q, but it does not re-encode: %v", d, b, err)
		}
		if len(out) > MaxDatagram {
			t.Fatalf("re-encoded datagram of %d bytes is over the limit", len(out))
		}
		back, err := ParseDatagram(out)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", out, err)
		}
		if back != d {
			t.Fatalf("round trip changed %+v into %+v (via %q)", d, back, out)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		"{\"from\":\"alice\",\"content\":\"message text\",\"timestamp\":1699123456}\n",
		"{\"from\":\"alice\",\"content\":\"message text\",\"timestamp\":1699123456}\r\n",
		`{"from":"alice","content":"message text","timestamp":1699123456}`,
		`{"from":"alice","content":"hi","timestamp":1,"id":"0123456789abcdef","color":"red"}`,
		`{"from":"alice","content":"line1\nline2 \"q\" \u00e9 \ud83d\ude00 <&> \u2028","timestamp":-1}`,
		`{"from":"alice","content":"\ud800","timestamp":1}`,
		`{"from":"alice","content":"x","timestamp":1.5}`,
		`{"from":"alice","content":"x"}`,
		`{"from":"alice","content":"x","timestamp":"1"}`,
		`{"from":"alice","FROM":"bob","content":"x","timestamp":1}`,
		`{"from":"x","from":"alice","content":"x","timestamp":1}`,
		`{"from":"x","\u0066rom":"alice","content":"x","timestamp":1}`,
		`{"from":"` + strings.Repeat("a", 40) + `","content":"x","timestamp":1}`,
		"\n",
		``,
		`hello`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		line, err := m.AppendLine(nil)
		if err != nil {
			// Re-encoding may escape what the sender sent raw (control
			// characters, invalid UTF-8 turned into U+FFFD): only the line
			// limit may then refuse it.
			if enc, _ := marshalJSON(m); len(enc)+1 > MaxLine {
				return
			}
			t.Fatalf("parsed %+v from %q, but it does not re-encode: %v", m, b, err)
		}
		back, err := ParseMessage(line)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", line, err)
		}
		if back != m {
			t.Fatalf("round trip changed %+v into %+v (via %q)", m, back, line)
		}
	})
}

// FuzzFoldNickname: the fold (with the UTS #39 confusables skeleton)
// never panics, a folded name folds to itself, and swapping a Latin
// letter for its Cyrillic look-alike changes nothing.
func FuzzFoldNickname(f *testing.F) {
	for _, s := range []string{"alice", "Alice\u200b", "\u0430lice", "b0b", "%m|", "ǅ", "ﬁsh", "straße", "e\u0301", "\xff"} {
		f.Add(s)
	}
	lookalike := strings.NewReplacer("a", "\u0430", "e", "\u0435", "o", "\u043e", "p", "\u0440", "c", "\u0441", "x", "\u0445")
	f.Fuzz(func(t *testing.T, s string) {
		fs := FoldNickname(s)
		if slow := foldSlow(s); slow != fs {
			t.Fatalf("FoldNickname(%q) = %q, but the general path gives %q", s, fs, slow)
		}
		if again := FoldNickname(fs); again != fs {
			t.Fatalf("FoldNickname(%q) = %q, but that folds to %q", s, fs, again)
		}
		if strings.ContainsAny(s, "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a\u030b\u030c\u0327\u0328") {
			return // combining marks may join the letters around them
		}
		if alike := lookalike.Replace(s); FoldNickname(alike) != fs {
			t.Fatalf("FoldNickname(%q) = %q, but its look-alike %q folds to %q", s, fs, alike, FoldNickname(alike))
		}
	})
}
