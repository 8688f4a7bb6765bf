package wire

import (
	"reflect"
	"testing"
)

func TestParseFrameKinds(t *testing.T) {
	opLine, err := MarshalGroupFrame(testOp(OpInvite))
	if err != nil {
		t.Fatal(err)
	}
	msgLine, err := MarshalGroupFrame(testGroupMessage("hi"))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := Control{Type: ControlAck, IDs: []string{"5b0e77a1"}}.AppendLine(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		line    string
		control bool
		group   GroupFrame
		wantErr bool
	}{
		{name: "chat message", line: `{"from":"bob","content":"hi","timestamp":1}`},
		{name: "ack", line: string(ack), control: true},
		{name: "group op", line: string(opLine), group: testOp(OpInvite)},
		{name: "group message", line: string(msgLine), group: testGroupMessage("hi")},
		{name: "broken group frame", line: `{"type":"group_msg","group":"zz"}`, wantErr: true},
		{name: "unknown type", line: `{"type":"nope","ids":["a"]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFrame([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if (f.Control != nil) != tt.control {
				t.Errorf("Control = %v, want set %v", f.Control, tt.control)
			}
			if !reflect.DeepEqual(f.Group, tt.group) {
				t.Errorf("Group = %#v, want %#v", f.Group, tt.group)
			}
		})
	}
}
