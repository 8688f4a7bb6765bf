package wire

import (
	"strings"
	"testing"
)

func TestParseDatagram(t *testing.T) {
	pad := func(s string, size int) string { return s + strings.Repeat(" ", size-len(s)) }
	tests := []struct {
		name    string
		in      string
		want    Datagram
		wantErr string // substring of the error; "" means success
	}{
		// What the original sends: no newline, no extension fields.
		{"original announce", `{"type":"announce","nickname":"alice","tcp_port":54321}`,
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 54321}, ""},
		{"original goodbye", `{"type":"goodbye","nickname":"alice"}`,
			Datagram{Type: TypeGoodbye, Nickname: "alice"}, ""},
		{"trailing newline", "{\"type\":\"announce\",\"nickname\":\"alice\",\"tcp_port\":1}\n",
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 1}, ""},
		{"spaces around", " \r\n{ \"type\" : \"announce\", \"nickname\" : \"alice\", \"tcp_port\" : 65535 }\r\n",
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 65535}, ""},
		{"extensions", `{"type":"announce","nickname":"alice","tcp_port":54321,"instance":"0123abcd","identity":"ABCDEF234567"}`,
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 54321, Instance: "0123abcd", Identity: "ABCDEF234567"}, ""},
		{"goodbye with extensions", `{"type":"goodbye","nickname":"alice","instance":"i","identity":"id"}`,
			Datagram{Type: TypeGoodbye, Nickname: "alice", Instance: "i", Identity: "id"}, ""},
		{"unknown fields ignored", `{"type":"announce","nickname":"alice","tcp_port":1,"future":{"a":[1,2]},"x":null}`,
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 1}, ""},
		{"field order free", `{"tcp_port":7,"nickname":"bob","type":"announce"}`,
			Datagram{Type: TypeAnnounce, Nickname: "bob", TCPPort: 7}, ""},
		{"goodbye ignores tcp_port", `{"type":"goodbye","nickname":"alice","tcp_port":1}`,
			Datagram{Type: TypeGoodbye, Nickname: "alice"}, ""},
		{"null extensions", `{"type":"announce","nickname":"alice","tcp_port":1,"instance":null,"identity":null}`,
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 1}, ""},
		{"unicode nickname", `{"type":"announce","nickname":"Zoë \u00e9\u6f22","tcp_port":1}`,
			Datagram{Type: TypeAnnounce, Nickname: "Zoë é漢", TCPPort: 1}, ""},
		{"exactly the size limit", pad(`{"type":"announce","nickname":"alice","tcp_port":1}`, MaxDatagram),
			Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 1}, ""},

		{"over the size limit", pad(`{"type":"announce","nickname":"alice","tcp_port":1}`, MaxDatagram+1), Datagram{}, "over the 65536 byte limit"},
		{"empty", "", Datagram{}, "parse datagram"},
		{"not JSON", "hello", Datagram{}, "parse datagram"},
		{"truncated", `{"type":"announce","nickname":"alice"`, Datagram{}, "parse datagram"},
		{"array", `["announce","alice",1]`, Datagram{}, "parse datagram"},
		{"trailing garbage", `{"type":"goodbye","nickname":"alice"}x`, Datagram{}, "parse datagram"},
		{"two objects", `{"type":"goodbye","nickname":"a"}{"type":"goodbye","nickname":"b"}`, Datagram{}, "parse datagram"},
		{"unknown type", `{"type":"hello","nickname":"alice","tcp_port":1}`, Datagram{}, `unknown datagram type "hello"`},
		{"type not lowercase", `{"type":"Announce","nickname":"alice","tcp_port":1}`, Datagram{}, "unknown datagram type"},
		{"no type", `{"nickname":"alice","tcp_port":1}`, Datagram{}, `unknown datagram type ""`},
		{"type not a string", `{"type":1,"nickname":"alice","tcp_port":1}`, Datagram{}, "parse datagram"},
		{"missing tcp_port", `{"type":"announce","nickname":"alice"}`, Datagram{}, "announce without tcp_port"},
		{"null tcp_port", `{"type":"announce","nickname":"alice","tcp_port":null}`, Datagram{}, "announce without tcp_port"},
		{"tcp_port 0", `{"type":"announce","nickname":"alice","tcp_port":0}`, Datagram{}, "tcp_port 0"},
		{"tcp_port 65536", `{"type":"announce","nickname":"alice","tcp_port":65536}`, Datagram{}, "parse datagram"},
		{"tcp_port negative", `{"type":"announce","nickname":"alice","tcp_port":-1}`, Datagram{}, "parse datagram"},
		{"tcp_port float", `{"type":"announce","nickname":"alice","tcp_port":80.5}`, Datagram{}, "parse datagram"},
		{"tcp_port string", `{"type":"announce","nickname":"alice","tcp_port":"80"}`, Datagram{}, "parse datagram"},
		{"missing nickname", `{"type":"goodbye"}`, Datagram{}, "invalid nickname"},
		{"empty nickname", `{"type":"announce","nickname":"","tcp_port":1}`, Datagram{}, "invalid nickname"},
		{"nickname too long", `{"type":"announce","nickname":"` + strings.Repeat("a", 33) + `","tcp_port":1}`, Datagram{}, "invalid nickname"},
		{"nickname with trailing space", `{"type":"announce","nickname":"alice ","tcp_port":1}`, Datagram{}, "invalid nickname"},
		{"nickname with control char", `{"type":"announce","nickname":"al\u0000ice","tcp_port":1}`, Datagram{}, "invalid nickname"},
		{"instance with space", `{"type":"announce","nickname":"alice","tcp_port":1,"instance":"a b"}`, Datagram{}, "instance contains byte 0x20"},
		{"instance not ASCII", `{"type":"announce","nickname":"alice","tcp_port":1,"instance":"é"}`, Datagram{}, "instance contains byte"},
		{"instance too long", `{"type":"announce","nickname":"alice","tcp_port":1,"instance":"` + strings.Repeat("a", MaxIDLength+1) + `"}`, Datagram{}, "over the 128 byte limit"},
		{"identity with newline", `{"type":"goodbye","nickname":"alice","identity":"a\nb"}`, Datagram{}, "identity contains byte 0xa"},
		{"instance not a string", `{"type":"announce","nickname":"alice","tcp_port":1,"instance":5}`, Datagram{}, "parse datagram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDatagram([]byte(tt.in))
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

func TestDatagramOriginal(t *testing.T) {
	for _, tt := range []struct {
		d    Datagram
		want bool
	}{
		{Datagram{Type: TypeAnnounce, Nickname: "a", TCPPort: 1}, true},
		{Datagram{Type: TypeAnnounce, Nickname: "a", TCPPort: 1, Instance: "i"}, false},
		{Datagram{Type: TypeGoodbye, Nickname: "a", Identity: "id"}, false},
	} {
		if got := tt.d.Original(); got != tt.want {
			t.Errorf("%+v.Original() = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestDatagramMarshal(t *testing.T) {
	tests := []struct {
		name    string
		d       Datagram
		want    string
		wantErr string
	}{
		{"original announce", Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 54321},
			`{"type":"announce","nickname":"alice","tcp_port":54321}`, ""},
		{"original goodbye", Datagram{Type: TypeGoodbye, Nickname: "alice"},
			`{"type":"goodbye","nickname":"alice"}`, ""},
		{"announce with extensions", Datagram{Type: TypeAnnounce, Nickname: "alice", TCPPort: 54321, Instance: "i1", Identity: "id1"},
			`{"type":"announce","nickname":"alice","tcp_port":54321,"instance":"i1","identity":"id1"}`, ""},
		{"goodbye with extensions", Datagram{Type: TypeGoodbye, Nickname: "alice", Instance: "i1", Identity: "id1"},
			`{"type":"goodbye","nickname":"alice","instance":"i1","identity":"id1"}`, ""},
		{"goodbye drops tcp_port", Datagram{Type: TypeGoodbye, Nickname: "alice", TCPPort: 5},
			`{"type":"goodbye","nickname":"alice"}`, ""},
		{"unicode nickname", Datagram{Type: TypeAnnounce, Nickname: "Zoë<&>", TCPPort: 1},
			`{"type":"announce","nickname":"Zoë<&>","tcp_port":1}`, ""},

		{"unknown type", Datagram{Type: "hello", Nickname: "alice"}, "", `unknown datagram type "hello"`},
		{"announce without port", Datagram{Type: TypeAnnounce, Nickname: "alice"}, "", "tcp_port 0"},
		{"bad nickname", Datagram{Type: TypeGoodbye, Nickname: " alice"}, "", "invalid nickname"},
		{"bad instance", Datagram{Type: TypeGoodbye, Nickname: "alice", Instance: "a b"}, "", "instance contains"},
		{"bad identity", Datagram{Type: TypeGoodbye, Nickname: "alice", Identity: strings.Repeat("x", MaxIDLength+1)}, "", "identity of 129 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.Marshal()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			back, err := ParseDatagram(got)
			if err != nil {
				t.Fatalf("parse own output: %v", err)
			}
			want := tt.d
			if want.Type == TypeGoodbye {
				want.TCPPort = 0
			}
			if back != want {
				t.Errorf("round trip: got %+v, want %+v", back, want)
			}
		})
	}
}
