package wire

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	orig := Message{From: "alice", Content: "message text", Timestamp: 1699123456}
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr string // substring of the error; "" means success
	}{
		// The original's line and the variants its receiver accepts.
		{"original line", "{\"from\":\"alice\",\"content\":\"message text\",\"timestamp\":1699123456}\n", orig, ""},
		{"CRLF", "{\"from\":\"alice\",\"content\":\"message text\",\"timestamp\":1699123456}\r\n", orig, ""},
		{"no trailing newline", `{"from":"alice","content":"message text","timestamp":1699123456}`, orig, ""},
		{"extra fields", `{"from":"alice","content":"message text","timestamp":1699123456,"color":"red","meta":{"a":[1]}}`, orig, ""},
		{"field order free", `{"timestamp":1699123456,"content":"message text","from":"alice"}`, orig, ""},
		{"spaces", " { \"from\" : \"alice\" , \"content\" : \"message text\" , \"timestamp\" : 1699123456 } \n", orig, ""},
		{"with id", `{"from":"alice","content":"hi","timestamp":1,"id":"0123456789abcdef"}`,
			Message{From: "alice", Content: "hi", Timestamp: 1, ID: "0123456789abcdef"}, ""},
		{"null id", `{"from":"alice","content":"hi","timestamp":1,"id":null}`, Message{From: "alice", Content: "hi", Timestamp: 1}, ""},
		{"empty content", `{"from":"alice","content":"","timestamp":1}`, Message{From: "alice", Timestamp: 1}, ""},
		{"escapes in content", `{"from":"alice","content":"line1\nline2 \"q\" \u00e9 \ud83d\ude00 <&>","timestamp":1}`,
			Message{From: "alice", Content: "line1\nline2 \"q\" é 😀 <&>", Timestamp: 1}, ""},
		{"negative timestamp", `{"from":"alice","content":"x","timestamp":-5}`, Message{From: "alice", Content: "x", Timestamp: -5}, ""},
		{"zero timestamp", `{"from":"alice","content":"x","timestamp":0}`, Message{From: "alice", Content: "x"}, ""},
		{"exactly the line limit", `{"from":"alice","content":"` + strings.Repeat("x", MaxLine-44) + `","timestamp":1}` + "\n",
			Message{From: "alice", Content: strings.Repeat("x", MaxLine-44), Timestamp: 1}, ""},

		// What the original drops.
		{"missing timestamp", `{"from":"alice","content":"x"}`, Message{}, "message without timestamp"},
		{"null timestamp", `{"from":"alice","content":"x","timestamp":null}`, Message{}, "field timestamp"},
		{"float timestamp", `{"from":"alice","content":"x","timestamp":1699123456.5}`, Message{}, "parse message"},
		{"float timestamp .0", `{"from":"alice","content":"x","timestamp":1699123456.0}`, Message{}, "parse message"},
		{"exponent timestamp", `{"from":"alice","content":"x","timestamp":1e9}`, Message{}, "parse message"},
		{"string timestamp", `{"from":"alice","content":"x","timestamp":"1699123456"}`, Message{}, "parse message"},
		{"timestamp overflows int64", `{"from":"alice","content":"x","timestamp":9223372036854775808}`, Message{}, "parse message"},
		{"not JSON", "hello\n", Message{}, "parse message"},
		{"empty line", "\n", Message{}, "parse message"},
		{"CR only", "\r\n", Message{}, "parse message"},
		{"truncated", `{"from":"alice","content":"x"`, Message{}, "parse message"},
		{"array", `["alice","x",1]`, Message{}, "parse message"},
		{"two objects", `{"from":"a","content":"x","timestamp":1}{"from":"b","content":"y","timestamp":2}`, Message{}, "parse message"},
		{"missing from", `{"content":"x","timestamp":1}`, Message{}, "message without from"},
		{"null from", `{"from":null,"content":"x","timestamp":1}`, Message{}, "field from"},
		{"missing content", `{"from":"alice","timestamp":1}`, Message{}, "message without content"},
		{"content not a string", `{"from":"alice","content":5,"timestamp":1}`, Message{}, "parse message"},
		{"from invalid", `{"from":" alice","content":"x","timestamp":1}`, Message{}, "message from: invalid nickname"},
		{"from empty", `{"from":"","content":"x","timestamp":1}`, Message{}, "message from: invalid nickname"},
		{"id with space", `{"from":"alice","content":"x","timestamp":1,"id":"a b"}`, Message{}, "id contains byte 0x20"},
		{"id too long", `{"from":"alice","content":"x","timestamp":1,"id":"` + strings.Repeat("a", MaxIDLength+1) + `"}`, Message{}, "id of 129 bytes"},
		{"over the line limit", `{"from":"alice","content":"` + strings.Repeat("x", MaxLine) + `","timestamp":1}`, Message{}, "over the 65536 byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q (got %+v)", err, tt.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMessageAppendLine(t *testing.T) {
	tests := []struct {
		name    string
		m       Message
		want    string
		wantErr string
	}{
		{"original shape", Message{From: "alice", Content: "message text", Timestamp: 1699123456},
			"{\"from\":\"alice\",\"content\":\"message text\",\"timestamp\":1699123456}\n", ""},
		{"with id", Message{From: "alice", Content: "hi", Timestamp: 1, ID: "abc"},
			"{\"from\":\"alice\",\"content\":\"hi\",\"timestamp\":1,\"id\":\"abc\"}\n", ""},
		{"newline in content stays escaped", Message{From: "alice", Content: "a\nb\r\n", Timestamp: 1},
			"{\"from\":\"alice\",\"content\":\"a\\nb\\r\\n\",\"timestamp\":1}\n", ""},
		{"HTML characters not escaped", Message{From: "alice", Content: "<3 & >", Timestamp: 1},
			"{\"from\":\"alice\",\"content\":\"<3 & >\",\"timestamp\":1}\n", ""},
		{"unicode", Message{From: "zoë", Content: "漢字 😀", Timestamp: 1},
			"{\"from\":\"zoë\",\"content\":\"漢字 😀\",\"timestamp\":1}\n", ""},

		{"bad from", Message{From: "", Content: "x", Timestamp: 1}, "", "message from: invalid nickname"},
		{"bad id", Message{From: "alice", Content: "x", Timestamp: 1, ID: "a\tb"}, "", "id contains"},
		{"over the line limit", Message{From: "alice", Content: strings.Repeat("x", MaxLine), Timestamp: 1}, "", "over the 65536 byte line limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("earlier line\n")
			buf := append([]byte(nil), prefix...)
			got, err := tt.m.AppendLine(buf)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("AppendLine changed what was in the buffer: %q", got)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if len(got) != len(prefix) {
					t.Errorf("on error the buffer grew to %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := got[len(prefix):]
			if string(line) != tt.want {
				t.Errorf("got  %q\nwant %q", line, tt.want)
			}
			back, err := ParseMessage(line)
			if err != nil {
				t.Fatalf("parse own line: %v", err)
			}
			if back != tt.m {
				t.Errorf("round trip: got %+v, want %+v", back, tt.m)
			}
		})
	}
}

func TestAppendLineLimitIsExact(t *testing.T) {
	// The longest content that fits: the line is then exactly MaxLine.
	overhead := len(`{"from":"alice","content":"","timestamp":1}` + "\n")
	m := Message{From: "alice", Content: strings.Repeat("x", MaxLine-overhead), Timestamp: 1}
	line, err := m.AppendLine(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) != MaxLine {
		t.Fatalf("line of %d bytes, want %d", len(line), MaxLine)
	}
	if _, err := ParseMessage(line); err != nil {
		t.Errorf("the receiver rejects a line the sender accepts: %v", err)
	}
	m.Content += "x"
	if _, err := m.AppendLine(nil); err == nil {
		t.Error("a line of MaxLine+1 bytes was accepted")
	}
}

func TestNewMessageID(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		id := NewMessageID()
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
			t.Fatalf("id %q is not 128 bits of hex", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		if err := (Message{From: "a", ID: id}).validate(); err != nil {
			t.Fatalf("id %q is not a valid message id: %v", id, err)
		}
	}
}
