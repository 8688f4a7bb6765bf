package filexfer

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ALPN is the stream protocol of file transfers (transport.HandleStream,
// transport.OpenStream).
const ALPN = "parlance-file/1"

// The wire format. Every frame is
//
//	type (1 byte) | payload length (4 bytes, big endian) | payload
//
// and its payload is bounded by its type (maxPayload): a frame over the
// bound ends the stream before its payload is read. Integers are big
// endian; transfer ids are 16 bytes.
//
//	'O' offer   id | size (8) | SHA-256 (32) | name (the rest, UTF-8, ≤ MaxNameBytes)
//	'P' offer in a group: id | size (8) | SHA-256 (32) | group id (16) | name (the rest)
//	'G' get     id | offset (8)
//	'A' answer  code (1) | reason (the rest, UTF-8, ≤ maxReason)
//	'D' data    offset (8) | bytes (1 to MaxChunk)
//	'N' notice  id | code (1) | reason (the rest, ≤ maxReason)
//
// A stream carries one exchange, begun by whoever opened it:
//
//	offer:  sender → offer (or group offer); receiver → answer (OK: recorded, the user
//	        decides later; or why not)
//	get:    receiver → get; sender → answer, then on OK data frames from
//	        the offset to the end; receiver → answer (OK: the whole file's
//	        hash matched and it is saved; codeBadHash: discarded)
//	notice: either side → notice (the transfer was rejected or cancelled)
const (
	frameOffer = 'O'
	// frameGroupOffer is an offer made to every member of a group: the
	// same fields and the group's id, so the receiver can show it in the
	// group's conversation.
	frameGroupOffer = 'P'
	frameGet        = 'G'
	frameAnswer     = 'A'
	frameData       = 'D'
	frameNotice     = 'N'
)

// Sizes.
const (
	// MaxChunk bounds the bytes of one data frame.
	MaxChunk = 256 << 10
	// MaxNameBytes bounds an offered file name on the wire (it is cut
	// shorter when saved, see SanitizeName).
	MaxNameBytes = 1024
	maxReason    = 512
	idLen        = 16
	groupLen     = 16 // a group's id
	headerLen    = 5
	dataHeader   = headerLen + 8 // a data frame's header and offset
)

func maxPayload(typ byte) (int, bool) {
	switch typ {
	case frameOffer:
		return idLen + 8 + 32 + MaxNameBytes, true
	case frameGroupOffer:
		return idLen + 8 + 32 + groupLen + MaxNameBytes, true
	case frameGet:
		return idLen + 8, true
	case frameAnswer:
		return 1 + maxReason, true
	case frameData:
		return 8 + MaxChunk, true
	case frameNotice:
		return idLen + 1 + maxReason, true
	}
	return 0, false
}

// Answer and notice codes.
const (
	codeOK        byte = 0
	codeRejected  byte = 1 // the receiver declined
	codeCancelled byte = 2 // either side stopped the transfer
	codeBusy      byte = 3 // too many offers: try later
	codeTooBig    byte = 4 // over the receiver's size limit
	codeUnknown   byte = 5 // no such transfer (for this peer)
	codeChanged   byte = 6 // the sender's file changed since the offer
	codeBadHash   byte = 7 // the whole file's SHA-256 did not match
	codeFailed    byte = 8 // anything else; the reason says what
)

// errBadFrame marks malformed input from the peer.
var errBadFrame = errors.New("malformed frame")

// transferID is a transfer's 16 random bytes.
type transferID [idLen]byte

func (id transferID) String() string { return hex.EncodeToString(id[:]) }

func parseID(s string) (transferID, error) {
	var id transferID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != idLen {
		return id, fmt.Errorf("transfer id %q: want %d hex digits", s, 2*idLen)
	}
	copy(id[:], b)
	return id, nil
}

type offerFrame struct {
	ID     transferID
	Size   int64
	SHA256 [32]byte
	Name   string
	// Group is the group the offer is made in; a group offer ('P') when
	// InGroup.
	Group   [groupLen]byte
	InGroup bool
}

type getFrame struct {
	ID     transferID
	Offset int64
}

type answerFrame struct {
	Code   byte
	Reason string
}

type noticeFrame struct {
	ID     transferID
	Code   byte
	Reason string
}

// readFrame reads one frame into buf (which must hold the largest payload
// plus dataHeader) and returns its type and payload, a slice of buf.
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	hdr := buf[:headerLen]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, nil, err
	}
	typ := hdr[0]
	n := binary.BigEndian.Uint32(hdr[1:])
	limit, ok := maxPayload(typ)
	switch {
	case !ok:
		return 0, nil, fmt.Errorf("%w: unknown type %#x", errBadFrame, typ)
	case n > uint32(limit):
		return 0, nil, fmt.Errorf("%w: type %c of %d bytes, over its limit of %d", errBadFrame, typ, n, limit)
	case headerLen+int(n) > len(buf):
		return 0, nil, fmt.Errorf("read frame: buffer of %d bytes too small for %d", len(buf), n)
	}
	p := buf[headerLen : headerLen+int(n)]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, fmt.Errorf("read frame payload: %w", noEOF(err))
	}
	return typ, p, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendHeader appends a frame header for a payload of n bytes.
func appendHeader(b []byte, typ byte, n int) []byte {
	b = append(b, typ)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func (o offerFrame) append(b []byte) []byte {
	typ, n := byte(frameOffer), idLen+8+32+len(o.Name)
	if o.InGroup {
		typ, n = frameGroupOffer, n+groupLen
	}
	b = appendHeader(b, typ, n)
	b = append(b, o.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Size))
	b = append(b, o.SHA256[:]...)
	if o.InGroup {
		b = append(b, o.Group[:]...)
	}
	return append(b, o.Name...)
}

// parseOffer parses an offer's payload; inGroup for a group offer ('P').
func parseOffer(p []byte, inGroup bool) (offerFrame, error) {
	var o offerFrame
	fixed := idLen + 8 + 32
	if inGroup {
		fixed += groupLen
	}
	if len(p) < fixed || len(p) > fixed+MaxNameBytes {
		return o, fmt.Errorf("%w: offer of %d bytes", errBadFrame, len(p))
	}
	copy(o.ID[:], p)
	size := binary.BigEndian.Uint64(p[idLen:])
	if size > 1<<62 {
		return o, fmt.Errorf("%w: offer of %d bytes", errBadFrame, size)
	}
	o.Size = int64(size)
	copy(o.SHA256[:], p[idLen+8:])
	if inGroup {
		copy(o.Group[:], p[idLen+8+32:])
		o.InGroup = true
	}
	name := p[fixed:]
	if !utf8.Valid(name) {
		return o, fmt.Errorf("%w: offered name is not UTF-8", errBadFrame)
	}
	o.Name = string(name)
	return o, nil
}

func (g getFrame) append(b []byte) []byte {
	b = appendHeader(b, frameGet, idLen+8)
	b = append(b, g.ID[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(g.Offset))
}

func parseGet(p []byte) (getFrame, error) {
	var g getFrame
	if len(p) != idLen+8 {
		return g, fmt.Errorf("%w: get of %d bytes", errBadFrame, len(p))
	}
	copy(g.ID[:], p)
	off := binary.BigEndian.Uint64(p[idLen:])
	if off > 1<<62 {
		return g, fmt.Errorf("%w: offset %d", errBadFrame, off)
	}
	g.Offset = int64(off)
	return g, nil
}

func (a answerFrame) append(b []byte) []byte {
	reason := cut(a.Reason, maxReason)
	b = appendHeader(b, frameAnswer, 1+len(reason))
	b = append(b, a.Code)
	return append(b, reason...)
}

func parseAnswer(p []byte) (answerFrame, error) {
	if len(p) < 1 || len(p) > 1+maxReason {
		return answerFrame{}, fmt.Errorf("%w: answer of %d bytes", errBadFrame, len(p))
	}
	return answerFrame{Code: p[0], Reason: cleanReason(p[1:])}, nil
}

func (n noticeFrame) append(b []byte) []byte {
	reason := cut(n.Reason, maxReason)
	b = appendHeader(b, frameNotice, idLen+1+len(reason))
	b = append(b, n.ID[:]...)
	b = append(b, n.Code)
	return append(b, reason...)
}

func parseNotice(p []byte) (noticeFrame, error) {
	var n noticeFrame
	if len(p) < idLen+1 || len(p) > idLen+1+maxReason {
		return n, fmt.Errorf("%w: notice of %d bytes", errBadFrame, len(p))
	}
	copy(n.ID[:], p)
	n.Code = p[idLen]
	n.Reason = cleanReason(p[idLen+1:])
	return n, nil
}

// putDataHeader writes a data frame's header and offset for n bytes into
// b[:dataHeader].
func putDataHeader(b []byte, offset int64, n int) {
	b[0] = frameData
	binary.BigEndian.PutUint32(b[1:], uint32(8+n))
	binary.BigEndian.PutUint64(b[headerLen:], uint64(offset))
}

// parseData returns a data frame's offset and bytes.
func parseData(p []byte) (int64, []byte, error) {
	if len(p) <= 8 || len(p) > 8+MaxChunk {
		return 0, nil, fmt.Errorf("%w: data frame of %d bytes", errBadFrame, len(p))
	}
	off := binary.BigEndian.Uint64(p)
	if off > 1<<62 {
		return 0, nil, fmt.Errorf("%w: offset %d", errBadFrame, off)
	}
	return int64(off), p[8:], nil
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanReason makes a peer's reason text safe to show: valid UTF-8 with
// no control or format characters.
func cleanReason(b []byte) string { return cleanText(string(b)) }
