package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Group frames are the lines Parlance peers exchange for group chats,
// inside the same TLS connections that carry Messages. Each is one JSON
// object tagged by a top-level "type" and has no "from", "content" or
// "timestamp", so an original receiver (whose parser requires all three)
// drops it with a log line; still, a Parlance node sends them only to
// peers with an identity, never to an original peer.
//
// The frames carry signed data (GroupOp, GroupMessage): the signature
// covers a binary encoding of the fields (SignedBytes), not the JSON, so
// a frame re-encoded by a relay keeps its signature.

// Types of group frames.
const (
	TypeGroupOp        = "group_op"
	TypeGroupMessage   = "group_msg"
	TypeGroupInvite    = "group_invite"
	TypeGroupSync      = "group_sync"
	TypeGroupSyncReply = "group_sync_reply"
)

// Kinds of membership operations (GroupOp.Kind).
const (
	OpCreate  = "create"
	OpInvite  = "invite"
	OpKick    = "kick"
	OpLeave   = "leave"
	OpRename  = "rename"
	OpPromote = "promote"
	OpDemote  = "demote"
)

// Size limits of group frames. Every frame is one line of at most MaxLine
// bytes.
const (
	// MaxGroupNameBytes is the longest group name (shown as #name).
	MaxGroupNameBytes = 64
	// MaxGroupText is the longest text of a group message, in bytes.
	MaxGroupText = 32 << 10
	// MaxGroupMessageLine is the longest encoded group_msg line: less
	// than MaxLine so that any one message fits in a group_sync_reply.
	MaxGroupMessageLine = MaxLine - 1024
	// MaxOpParents bounds the parents (heads seen) an op names.
	MaxOpParents = 16
	// MaxSyncHeads bounds the heads a group_sync names.
	MaxSyncHeads = 64
	// MaxSyncWants bounds the sequence ranges a group_sync asks for.
	MaxSyncWants = 256
)

// ErrNotGroupFrame is returned by ParseGroupFrame for a line that is not
// a group frame (no "type", or a type that is not a group type), such as a
// Message.
var ErrNotGroupFrame = errors.New("not a group frame")

// GroupID is a group's random 128-bit id, hex in JSON.
type GroupID [16]byte

// OpHash is the SHA-256 of a GroupOp's SignedBytes, hex in JSON.
type OpHash [32]byte

// MessageID is a group message's random 128-bit id, hex in JSON.
type MessageID [16]byte

func (g GroupID) String() string   { return hex.EncodeToString(g[:]) }
func (h OpHash) String() string    { return hex.EncodeToString(h[:]) }
func (m MessageID) String() string { return hex.EncodeToString(m[:]) }

func (g GroupID) MarshalText() ([]byte, error)   { return hexText(g[:]), nil }
func (h OpHash) MarshalText() ([]byte, error)    { return hexText(h[:]), nil }
func (m MessageID) MarshalText() ([]byte, error) { return hexText(m[:]), nil }

func (g *GroupID) UnmarshalText(b []byte) error   { return parseHex("group id", g[:], b) }
func (h *OpHash) UnmarshalText(b []byte) error    { return parseHex("op hash", h[:], b) }
func (m *MessageID) UnmarshalText(b []byte) error { return parseHex("message id", m[:], b) }

func hexText(b []byte) []byte { return hex.AppendEncode(nil, b) }

// parseHex accepts exactly 2*len(dst) lower-case hex digits, so that every
// value has one spelling.
func parseHex(what string, dst, b []byte) error {
	if len(b) != 2*len(dst) {
		return fmt.Errorf("%s of %d characters, want %d", what, len(b), 2*len(dst))
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%s is not lower-case hex", what)
		}
	}
	_, err := hex.Decode(dst, b)
	return err
}

// GroupOp is one signed membership operation. Create is the group's first
// op and has no parents; every other op names, in Parents, the heads of the
// op graph its signer had seen.
type GroupOp struct {
	Group GroupID `json:"group"`
	Kind  string  `json:"kind"`
	// Parents are the hashes of the ops this one follows (none for create).
	Parents []OpHash `json:"parents,omitempty"`
	// Target is the peer ID acted on by invite, kick, promote and demote.
	Target string `json:"target,omitempty"`
	// Name is the group's name: set by create and rename; an invite
	// carries the name the inviter knows, for the invitation.
	Name string `json:"name,omitempty"`
	// Seq is, in a kick, the last sequence number of the target's
	// messages the kicker accepts; in a leave, the leaver's own last one.
	Seq uint64 `json:"seq,omitempty"`
	// Time is the signer's clock, Unix milliseconds (shown, never trusted
	// for order).
	Time int64 `json:"time"`
	// Signer is the peer ID of the signer; Key its Ed25519 public key
	// (base64), from which Signer must derive; Sig the signature of
	// SignedBytes (base64).
	Signer string `json:"signer"`
	Key    []byte `json:"key"`
	Sig    []byte `json:"sig"`
}

// GroupMessage is one signed group chat message. (Sender, Seq) and ID are
// each unique within a group.
type GroupMessage struct {
	Group  GroupID   `json:"group"`
	ID     MessageID `json:"id"`
	Sender string    `json:"sender"`
	Key    []byte    `json:"key"`
	// Seq counts the sender's messages in this group from 1.
	Seq uint64 `json:"seq"`
	// Time is the sender's clock, Unix milliseconds; it orders the display.
	Time int64  `json:"time"`
	Text string `json:"text"`
	Sig  []byte `json:"sig"`
}

// GroupInvite tells a peer it was invited: the group's create op and the
// invite op naming it, both signed, so the invitee can check who created
// the group and who invited it before it asks to join (by a GroupSync).
type GroupInvite struct {
	Create GroupOp `json:"create"`
	Invite GroupOp `json:"invite"`
}

// SeqRange asks for the messages of Sender numbered From to To
// (inclusive); To 0 means "and everything after".
type SeqRange struct {
	Sender string `json:"sender"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to,omitempty"`
}

// GroupSync asks a member for what the sender lacks: the ops that are not
// in the past of Heads, and the messages in Want.
type GroupSync struct {
	Group GroupID    `json:"group"`
	Heads []OpHash   `json:"heads,omitempty"`
	Want  []SeqRange `json:"want,omitempty"`
}

// GroupSyncReply answers a GroupSync with as many ops (parents before
// children) and messages (by sender, then sequence) as fit in one line;
// More says the reply was cut short and another GroupSync will get the
// rest.
type GroupSyncReply struct {
	Group    GroupID        `json:"group"`
	Ops      []GroupOp      `json:"ops,omitempty"`
	Messages []GroupMessage `json:"messages,omitempty"`
	More     bool           `json:"more,omitempty"`
}

// GroupFrame is one of GroupOp, GroupMessage, GroupInvite, GroupSync and
// GroupSyncReply.
type GroupFrame interface {
	// GroupType returns the frame's "type" tag.
	GroupType() string
	// Validate checks the frame's fields and limits (not signatures).
	Validate() error
}

func (GroupOp) GroupType() string        { return TypeGroupOp }
func (GroupMessage) GroupType() string   { return TypeGroupMessage }
func (GroupInvite) GroupType() string    { return TypeGroupInvite }
func (GroupSync) GroupType() string      { return TypeGroupSync }
func (GroupSyncReply) GroupType() string { return TypeGroupSyncReply }

// IsGroupType reports whether typ is the tag of a group frame.
func IsGroupType(typ string) bool {
	switch typ {
	case TypeGroupOp, TypeGroupMessage, TypeGroupInvite, TypeGroupSync, TypeGroupSyncReply:
		return true
	}
	return false
}

// Domains that start the signed bytes, so that a signature made for one
// purpose is never valid for another.
const (
	groupOpDomain  = "parlance-group-op-v1\x00"
	groupMsgDomain = "parlance-group-msg-v1\x00"
)

// SignedBytes returns the bytes the signer signs: a domain string, then
// the group id, kind, parents, target, name, seq, time, signer and key,
// each of variable length prefixed by its length.
func (o GroupOp) SignedBytes() []byte {
	b := make([]byte, 0, 160+len(o.Parents)*32+len(o.Name))
	b = append(b, groupOpDomain...)
	b = append(b, o.Group[:]...)
	b = appendString(b, o.Kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(o.Parents)))
	for _, p := range o.Parents {
		b = append(b, p[:]...)
	}
	b = appendString(b, o.Target)
	b = appendString(b, o.Name)
	b = binary.BigEndian.AppendUint64(b, o.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Time))
	b = appendString(b, o.Signer)
	return appendString(b, string(o.Key))
}

// Hash returns the op's hash: the SHA-256 of its SignedBytes. It names the
// op in Parents and Heads.
func (o GroupOp) Hash() OpHash { return sha256.Sum256(o.SignedBytes()) }

// SignedBytes returns the bytes the sender signs: a domain string, then
// the group id, message id, sender, key, seq, time and text.
func (m GroupMessage) SignedBytes() []byte {
	b := make([]byte, 0, 160+len(m.Text))
	b = append(b, groupMsgDomain...)
	b = append(b, m.Group[:]...)
	b = append(b, m.ID[:]...)
	b = appendString(b, m.Sender)
	b = appendString(b, string(m.Key))
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time))
	return appendString(b, m.Text)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// MarshalGroupFrame validates f and encodes it as one line (JSON and "\n")
// of at most MaxLine bytes (MaxGroupMessageLine for a GroupMessage).
func MarshalGroupFrame(f GroupFrame) ([]byte, error) {
	return AppendGroupFrame(nil, f)
}

// AppendGroupFrame is MarshalGroupFrame appending to buf.
func AppendGroupFrame(buf []byte, f GroupFrame) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return buf, err
	}
	body, err := marshalJSON(f)
	if err != nil {
		return buf, fmt.Errorf("encode %s: %w", f.GroupType(), err)
	}
	start := len(buf)
	buf = append(buf, `{"type":"`...)
	buf = append(buf, f.GroupType()...)
	buf = append(buf, `",`...)
	buf = append(buf, body[1:]...) // every frame has fields: body is never "{}"
	buf = append(buf, '\n')
	limit := MaxLine
	if _, ok := f.(GroupMessage); ok {
		limit = MaxGroupMessageLine
	}
	if n := len(buf) - start; n > limit {
		return buf[:start], fmt.Errorf("%s of %d bytes is over the %d byte limit", f.GroupType(), n, limit)
	}
	return buf, nil
}

// ParseGroupFrame decodes and validates one group frame line. The trailing
// "\n" or "\r\n" may be present or not. A line without a group "type"
// gives an error wrapping ErrNotGroupFrame. Unknown fields are ignored.
func ParseGroupFrame(line []byte) (GroupFrame, error) {
	if len(line) > MaxLine {
		return nil, fmt.Errorf("line of %d bytes is over the %d byte limit", len(line), MaxLine)
	}
	line = bytes.TrimSpace(line)
	var tag struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(line, &tag); err != nil {
		return nil, fmt.Errorf("parse group frame: %w", err)
	}
	var f GroupFrame
	var err error
	switch tag.Type {
	case TypeGroupOp:
		f, err = decodeFrame[GroupOp](line)
	case TypeGroupMessage:
		f, err = decodeFrame[GroupMessage](line)
	case TypeGroupInvite:
		f, err = decodeFrame[GroupInvite](line)
	case TypeGroupSync:
		f, err = decodeFrame[GroupSync](line)
	case TypeGroupSyncReply:
		f, err = decodeFrame[GroupSyncReply](line)
	default:
		return nil, fmt.Errorf("%w: type %q", ErrNotGroupFrame, tag.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", tag.Type, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if _, ok := f.(GroupMessage); ok && len(line)+1 > MaxGroupMessageLine {
		return nil, fmt.Errorf("group_msg of %d bytes is over the %d byte limit", len(line)+1, MaxGroupMessageLine)
	}
	return f, nil
}

func decodeFrame[T GroupFrame](line []byte) (GroupFrame, error) {
	var v T
	if err := json.Unmarshal(line, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (o GroupOp) Validate() error {
	if o.Group == (GroupID{}) {
		return errors.New("group_op: zero group id")
	}
	if err := validatePeerIDField("group_op signer", o.Signer); err != nil {
		return err
	}
	if len(o.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("group_op: key of %d bytes, want %d", len(o.Key), ed25519.PublicKeySize)
	}
	if len(o.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("group_op: signature of %d bytes, want %d", len(o.Sig), ed25519.SignatureSize)
	}
	if o.Name != "" {
		if err := ValidateGroupName(o.Name); err != nil {
			return fmt.Errorf("group_op: %w", err)
		}
	}
	if o.Kind == OpCreate {
		if len(o.Parents) != 0 {
			return errors.New("group_op: create with parents")
		}
	} else if len(o.Parents) == 0 || len(o.Parents) > MaxOpParents {
		return fmt.Errorf("group_op: %s with %d parents, want 1 to %d", o.Kind, len(o.Parents), MaxOpParents)
	}
	for i := range o.Parents {
		for j := range i {
			if o.Parents[i] == o.Parents[j] {
				return errors.New("group_op: a parent named twice")
			}
		}
	}
	needTarget := false
	switch o.Kind {
	case OpCreate, OpRename:
		if o.Name == "" {
			return fmt.Errorf("group_op: %s without a name", o.Kind)
		}
	case OpInvite, OpKick, OpPromote, OpDemote:
		needTarget = true
	case OpLeave:
	default:
		return fmt.Errorf("group_op: unknown kind %q", o.Kind)
	}
	if !needTarget && o.Target != "" {
		return fmt.Errorf("group_op: %s with a target", o.Kind)
	}
	if needTarget {
		if err := validatePeerIDField("group_op target", o.Target); err != nil {
			return err
		}
	}
	if o.Seq != 0 && o.Kind != OpKick && o.Kind != OpLeave {
		return fmt.Errorf("group_op: %s with a seq", o.Kind)
	}
	return nil
}

func (m GroupMessage) Validate() error {
	switch {
	case m.Group == (GroupID{}):
		return errors.New("group_msg: zero group id")
	case m.ID == (MessageID{}):
		return errors.New("group_msg: zero message id")
	case m.Seq == 0:
		return errors.New("group_msg: seq 0 (sequences start at 1)")
	case len(m.Key) != ed25519.PublicKeySize:
		return fmt.Errorf("group_msg: key of %d bytes, want %d", len(m.Key), ed25519.PublicKeySize)
	case len(m.Sig) != ed25519.SignatureSize:
		return fmt.Errorf("group_msg: signature of %d bytes, want %d", len(m.Sig), ed25519.SignatureSize)
	case len(m.Text) > MaxGroupText:
		return fmt.Errorf("group_msg: text of %d bytes is over the %d byte limit", len(m.Text), MaxGroupText)
	case !utf8.ValidString(m.Text):
		// JSON would turn invalid UTF-8 into U+FFFD and break the signature.
		return errors.New("group_msg: text is not valid UTF-8")
	}
	return validatePeerIDField("group_msg sender", m.Sender)
}

func (v GroupInvite) Validate() error {
	if err := v.Create.Validate(); err != nil {
		return fmt.Errorf("group_invite: %w", err)
	}
	if err := v.Invite.Validate(); err != nil {
		return fmt.Errorf("group_invite: %w", err)
	}
	switch {
	case v.Create.Kind != OpCreate:
		return fmt.Errorf("group_invite: create op of kind %q", v.Create.Kind)
	case v.Invite.Kind != OpInvite:
		return fmt.Errorf("group_invite: invite op of kind %q", v.Invite.Kind)
	case v.Create.Group != v.Invite.Group:
		return errors.New("group_invite: ops of two groups")
	}
	return nil
}

func (s GroupSync) Validate() error {
	switch {
	case s.Group == (GroupID{}):
		return errors.New("group_sync: zero group id")
	case len(s.Heads) > MaxSyncHeads:
		return fmt.Errorf("group_sync: %d heads, the limit is %d", len(s.Heads), MaxSyncHeads)
	case len(s.Want) > MaxSyncWants:
		return fmt.Errorf("group_sync: %d ranges, the limit is %d", len(s.Want), MaxSyncWants)
	}
	for _, w := range s.Want {
		if err := validatePeerIDField("group_sync sender", w.Sender); err != nil {
			return err
		}
		if w.From == 0 || (w.To != 0 && w.To < w.From) {
			return fmt.Errorf("group_sync: bad range %d to %d", w.From, w.To)
		}
	}
	return nil
}

func (r GroupSyncReply) Validate() error {
	if r.Group == (GroupID{}) {
		return errors.New("group_sync_reply: zero group id")
	}
	for _, o := range r.Ops {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("group_sync_reply: %w", err)
		}
		if o.Group != r.Group {
			return errors.New("group_sync_reply: op of another group")
		}
	}
	for _, m := range r.Messages {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("group_sync_reply: %w", err)
		}
		if m.Group != r.Group {
			return errors.New("group_sync_reply: message of another group")
		}
	}
	return nil
}

// ErrBadGroupName is wrapped by every error ValidateGroupName returns.
var ErrBadGroupName = errors.New("invalid group name")

// ValidateGroupName checks a group name (without the "#"): 1 to 64 bytes
// of valid UTF-8, no control characters, spaces or "#".
func ValidateGroupName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: it is empty", ErrBadGroupName)
	}
	if err := validateName(ErrBadGroupName, name, MaxGroupNameBytes); err != nil {
		return err
	}
	if bytes.ContainsAny([]byte(name), " #") {
		return fmt.Errorf("%w: %q contains a space or '#'", ErrBadGroupName, name)
	}
	return nil
}

// validatePeerIDField checks a peer ID in wire form: 52 characters of
// upper-case base32 (the form identity.ID has on the wire).
func validatePeerIDField(field, id string) error {
	if len(id) != 52 {
		return fmt.Errorf("%s: peer ID of %d characters, want 52", field, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return fmt.Errorf("%s: peer ID is not upper-case base32", field)
		}
	}
	return nil
}
