package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/net/identity"
)

// testSigner is a fixed key, so test frames are the same in every run.
func testSigner(seed byte) (ed25519.PrivateKey, string) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv, string(identity.IDFromPublicKey(priv.Public().(ed25519.PublicKey)))
}

func testOp(kind string) GroupOp {
	priv, id := testSigner(1)
	_, target := testSigner(2)
	op := GroupOp{Group: GroupID{1, 2, 3}, Kind: kind, Time: 1700000000000, Signer: id, Key: priv.Public().(ed25519.PublicKey)}
	switch kind {
	case OpCreate:
		op.Name = "team"
	case OpRename:
		op.Name = "team2"
	case OpInvite, OpKick, OpPromote, OpDemote:
		op.Target = target
	}
	if kind != OpCreate {
		op.Parents = []OpHash{{9}, {8}}
	}
	if kind == OpKick || kind == OpLeave {
		op.Seq = 7
	}
	op.Sig = ed25519.Sign(priv, op.SignedBytes())
	return op
}

func testGroupMessage(text string) GroupMessage {
	priv, id := testSigner(1)
	m := GroupMessage{Group: GroupID{1, 2, 3}, ID: MessageID{4, 5}, Sender: id, Key: priv.Public().(ed25519.PublicKey), Seq: 3, Time: 1700000000123, Text: text}
	m.Sig = ed25519.Sign(priv, m.SignedBytes())
	return m
}

func TestGroupFrameRoundTrip(t *testing.T) {
	_, bob := testSigner(2)
	frames := []GroupFrame{
		testOp(OpCreate), testOp(OpInvite), testOp(OpKick), testOp(OpLeave),
		testOp(OpRename), testOp(OpPromote), testOp(OpDemote),
		testGroupMessage("hello <&> \"quoted\" \u00e9\n"),
		GroupInvite{Create: testOp(OpCreate), Invite: testOp(OpInvite)},
		GroupSync{Group: GroupID{1}, Heads: []OpHash{{1}, {2}}, Want: []SeqRange{{Sender: bob, From: 1, To: 5}, {Sender: bob, From: 9}}},
		GroupSync{Group: GroupID{1}},
		GroupSyncReply{Group: GroupID{1, 2, 3}, Ops: []GroupOp{testOp(OpCreate)}, Messages: []GroupMessage{testGroupMessage("x")}, More: true},
	}
	for _, f := range frames {
		t.Run(f.GroupType(), func(t *testing.T) {
			line, err := MarshalGroupFrame(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(line, []byte(`{"type":"`+f.GroupType()+`",`)) || !bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("line %q does not start with its type or end with a newline", line)
			}
			back, err := ParseGroupFrame(line)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if !reflect.DeepEqual(back, f) {
				t.Fatalf("round trip changed\n%+v\ninto\n%+v", f, back)
			}
			// An original receiver drops it: it has no from, content or
			// timestamp.
			if _, err := ParseMessage(line); err == nil {
				t.Fatalf("ParseMessage accepted group frame %q", line)
			}
		})
	}
}

func TestGroupOpSignedBytes(t *testing.T) {
	op := testOp(OpInvite)
	if !ed25519.Verify(op.Key, op.SignedBytes(), op.Sig) {
		t.Fatal("signature does not verify")
	}
	// Every field is covered: changing any changes the bytes.
	changes := map[string]func(*GroupOp){
		"group":   func(o *GroupOp) { o.Group[0]++ },
		"kind":    func(o *GroupOp) { o.Kind = OpKick },
		"parents": func(o *GroupOp) { o.Parents = o.Parents[:1] },
		"target":  func(o *GroupOp) { o.Target = o.Signer },
		"name":    func(o *GroupOp) { o.Name = "x" },
		"seq":     func(o *GroupOp) { o.Seq++ },
		"time":    func(o *GroupOp) { o.Time++ },
		"signer":  func(o *GroupOp) { o.Signer = o.Target },
		"key":     func(o *GroupOp) { o.Key = bytes.Repeat([]byte{1}, 32) },
	}
	for name, change := range changes {
		o := testOp(OpInvite)
		o.Parents = append([]OpHash(nil), o.Parents...)
		change(&o)
		if bytes.Equal(o.SignedBytes(), op.SignedBytes()) || o.Hash() == op.Hash() {
			t.Errorf("changing %s does not change the signed bytes", name)
		}
	}
	// Length prefixes: moving bytes between name and target is seen.
	a, b := testOp(OpRename), testOp(OpRename)
	a.Name, b.Name = "ab", "a"
	if bytes.Equal(a.SignedBytes(), b.SignedBytes()) {
		t.Error("names of different length sign alike")
	}
	m := testGroupMessage("hi")
	m2 := m
	m2.Text = "hj"
	if bytes.Equal(m.SignedBytes(), m2.SignedBytes()) {
		t.Error("message text is not signed")
	}
}

func TestParseGroupFrameErrors(t *testing.T) {
	op := testOp(OpInvite)
	mutate := func(f func(*GroupOp)) string {
		o := op
		f(&o)
		b, err := marshalJSON(o)
		if err != nil {
			t.Fatal(err)
		}
		return `{"type":"group_op",` + string(b[1:])
	}
	msg := testGroupMessage("hi")
	// Between MaxGroupMessageLine and MaxLine once "\x01" escapes to six bytes.
	big := testGroupMessage(strings.Repeat("\x01", (MaxLine-300-len(mustLine(t, testGroupMessage(""))))/6))
	bigJSON := mustJSON(t, big)
	tests := []struct {
		name, in, wantErr string
	}{
		{"chat message", `{"from":"alice","content":"x","timestamp":1}`, "not a group frame"},
		{"other type", `{"type":"ack","id":"x"}`, "not a group frame"},
		{"not JSON", `hello`, "parse group frame"},
		{"over the line", `{"type":"group_op","x":"` + strings.Repeat("a", MaxLine) + `"}`, "over the 65536 byte limit"},
		{"unknown kind", mutate(func(o *GroupOp) { o.Kind = "explode" }), `unknown kind "explode"`},
		{"create with parents", mutate(func(o *GroupOp) { o.Kind = OpCreate; o.Target = ""; o.Name = "x" }), "create with parents"},
		{"invite without parents", mutate(func(o *GroupOp) { o.Parents = nil }), "invite with 0 parents"},
		{"too many parents", mutate(func(o *GroupOp) { o.Parents = make([]OpHash, MaxOpParents+1) }), "17 parents"},
		{"same parent twice", mutate(func(o *GroupOp) { o.Parents = []OpHash{{1}, {1}} }), "parent named twice"},
		{"invite without target", mutate(func(o *GroupOp) { o.Target = "" }), "peer ID of 0 characters"},
		{"leave with target", mutate(func(o *GroupOp) { o.Kind = OpLeave }), "leave with a target"},
		{"lower-case target", mutate(func(o *GroupOp) { o.Target = strings.ToLower(o.Target) }), "not upper-case base32"},
		{"short key", mutate(func(o *GroupOp) { o.Key = o.Key[:31] }), "key of 31 bytes"},
		{"no signature", mutate(func(o *GroupOp) { o.Sig = nil }), "signature of 0 bytes"},
		{"bad name", mutate(func(o *GroupOp) { o.Name = "a b" }), "invalid group name"},
		{"seq on invite", mutate(func(o *GroupOp) { o.Seq = 1 }), "invite with a seq"},
		{"upper-case hex group", strings.Replace(mutate(func(*GroupOp) {}), `"group":"010203`, `"group":"01020A`, 1), "not lower-case hex"},
		{"short group id", strings.Replace(mutate(func(*GroupOp) {}), `"group":"010203`, `"group":"0102`, 1), "group id of 30 characters"},
		{"seq 0", strings.Replace(mustLine(t, msg), `"seq":3`, `"seq":0`, 1), "seq 0"},
		{"zero message id", strings.Replace(mustLine(t, msg), `"id":"0405`, `"id":"0000`, 1), "zero message id"},
		{"message over its line", `{"type":"group_msg",` + string(bigJSON[1:]), "over the 64512 byte limit"},
		{"sync range backwards", `{"type":"group_sync","group":"01000000000000000000000000000000","want":[{"sender":"` + msg.Sender + `","from":5,"to":4}]}`, "bad range"},
		{"sync range from 0", `{"type":"group_sync","group":"01000000000000000000000000000000","want":[{"sender":"` + msg.Sender + `","from":0}]}`, "bad range"},
		{"reply of another group", `{"type":"group_sync_reply","group":"02000000000000000000000000000000","messages":[` + string(mustJSON(t, msg)) + `]}`, "message of another group"},
		{"invite of a kick", `{"type":"group_invite","create":` + string(mustJSON(t, testOp(OpCreate))) + `,"invite":` + string(mustJSON(t, testOp(OpKick))) + `}`, `invite op of kind "kick"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseGroupFrame([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseGroupFrame = %+v, %v; want error with %q", f, err, tt.wantErr)
			}
		})
	}
	if _, err := ParseGroupFrame([]byte(`{"from":"a","content":"x","timestamp":1}`)); !errors.Is(err, ErrNotGroupFrame) {
		t.Errorf("chat message: %v, want ErrNotGroupFrame", err)
	}
	if _, err := MarshalGroupFrame(big); err == nil {
		t.Error("MarshalGroupFrame encoded a message over its line limit")
	}
	bad := testGroupMessage("ok")
	bad.Text = "\xff"
	if _, err := MarshalGroupFrame(bad); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8 text: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := marshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustLine(t *testing.T, f GroupFrame) string {
	t.Helper()
	b, err := MarshalGroupFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateGroupName(t *testing.T) {
	for _, name := range []string{"team", "équipe", "a", strings.Repeat("x", MaxGroupNameBytes)} {
		if err := ValidateGroupName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", "a b", "#team", " team", "x\x00", strings.Repeat("x", MaxGroupNameBytes+1), "\xff"} {
		if err := ValidateGroupName(name); !errors.Is(err, ErrBadGroupName) {
			t.Errorf("%q: %v, want ErrBadGroupName", name, err)
		}
	}
}

func FuzzParseGroupFrame(f *testing.F) {
	_, bob := testSigner(2)
	for _, fr := range []GroupFrame{
		testOp(OpCreate), testOp(OpInvite), testOp(OpKick), testOp(OpLeave), testOp(OpRename),
		testGroupMessage("hi <&> \u2028 \U0001F600"),
		GroupInvite{Create: testOp(OpCreate), Invite: testOp(OpInvite)},
		GroupSync{Group: GroupID{1}, Heads: []OpHash{{1}}, Want: []SeqRange{{Sender: bob, From: 1, To: 2}, {Sender: bob, From: 3}}},
		GroupSyncReply{Group: GroupID{1, 2, 3}, Ops: []GroupOp{testOp(OpLeave)}, Messages: []GroupMessage{testGroupMessage("")}, More: true},
	} {
		line, err := MarshalGroupFrame(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	for _, seed := range []string{
		`{"type":"group_msg","text":"\ud800"}`,
		`{"type":"group_op","group":"00000000000000000000000000000000"}`,
		`{"from":"a","content":"x","timestamp":1}`,
		`{"type":"group_sync","group":"01000000000000000000000000000000","heads":null,"want":[]}`,
		``, `null`, `[]`, `{"type":5}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseGroupFrame(b)
		if err != nil {
			return
		}
		line, err := MarshalGroupFrame(fr)
		if err != nil {
			// Re-encoding may escape what the sender sent raw: only a size
			// limit may then refuse it.
			if strings.Contains(err.Error(), "byte limit") {
				return
			}
			t.Fatalf("parsed %+v from %q, but it does not re-encode: %v", fr, b, err)
		}
		back, err := ParseGroupFrame(line)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", line, err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(fr)) {
			t.Fatalf("round trip changed %+v into %+v (via %q)", fr, back, line)
		}
	})
}

// normalize makes empty and nil slices alike (omitempty drops both).
func normalize(f GroupFrame) GroupFrame {
	switch v := f.(type) {
	case GroupSync:
		if len(v.Heads) == 0 {
			v.Heads = nil
		}
		if len(v.Want) == 0 {
			v.Want = nil
		}
		return v
	case GroupSyncReply:
		if len(v.Ops) == 0 {
			v.Ops = nil
		}
		if len(v.Messages) == 0 {
			v.Messages = nil
		}
		for i := range v.Ops {
			v.Ops[i] = normalize(v.Ops[i]).(GroupOp)
		}
		return v
	case GroupOp:
		if len(v.Parents) == 0 {
			v.Parents = nil
		}
		return v
	case GroupInvite:
		v.Create = normalize(v.Create).(GroupOp)
		v.Invite = normalize(v.Invite).(GroupOp)
		return v
	}
	return f
}
