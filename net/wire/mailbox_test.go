package wire

import (
	"reflect"
	"strings"
	"testing"
)

func TestMailboxRoundTrip(t *testing.T) {
	key := MailboxKey{Identity: "ABC", PublicKey: make([]byte, 32), KEM: 0x20, Key: []byte{1, 2, 3},
		Created: 1, Expires: 2, Signature: make([]byte, 64)}
	clients := []ClientMessage{
		MailboxKeyPut{Key: key},
		MailboxKeyGet{Identity: "ABC"},
		MailboxPut{To: "ABC", ID: "m1", Sealed: []byte("x")},
		MailboxFetch{},
		MailboxAck{IDs: []string{"m1", "m2"}},
	}
	for _, m := range clients {
		b, err := MarshalClient(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		got, err := ParseClientMessage(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: parsed %#v, %v", b, got, err)
		}
	}
	servers := []ServerMessage{
		MailboxStatus{Count: 1, Bytes: 9},
		MailboxKeyReply{Identity: "ABC"},
		MailboxKeyReply{Identity: "ABC", Key: &key},
		MailboxStored{To: "ABC", ID: "m1", Error: "full"},
		MailboxItems{Items: []MailboxItem{{ID: "m1", From: "DEF", At: 3, Sealed: []byte("y")}}, More: true},
	}
	for _, m := range servers {
		b, err := MarshalServer(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		got, err := ParseServerMessage(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: parsed %#v, %v", b, got, err)
		}
	}
}

func TestMailboxInvalid(t *testing.T) {
	for _, s := range []string{
		`{"type":"mailbox_put","to":"ABC","id":"m1","sealed":""}`,
		`{"type":"mailbox_put","to":"","id":"m1","sealed":"AQID"}`,
		`{"type":"mailbox_put","to":"ABC","id":"m 1","sealed":"AQID"}`,
		`{"type":"mailbox_put","to":"ABC","id":"m1","sealed":"` + strings.Repeat("A", (MaxSealedBytes+3)/3*4) + `"}`,
		`{"type":"mailbox_ack","ids":[]}`,
		`{"type":"mailbox_key_put"}`,
		`{"type":"mailbox_key_put","key":{"identity":"ABC"}}`,
		`{"type":"mailbox_key_get","identity":""}`,
	} {
		if m, err := ParseClientMessage([]byte(s)); err == nil {
			t.Errorf("%s parsed as %#v", s, m)
		}
	}
	for _, s := range []string{
		`{"type":"mailbox_items"}`,
		`{"type":"mailbox_items","items":[{"id":"m1","from":"","at":5,"sealed":"AQID"}]}`,
		`{"type":"mailbox_status","count":-1}`,
	} {
		if m, err := ParseServerMessage([]byte(s)); err == nil {
			t.Errorf("%s parsed as %#v", s, m)
		}
	}
}
