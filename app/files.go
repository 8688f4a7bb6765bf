package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/net/transport"
)

// FilesConfig turns on file transfer (Config.Files). The node's transport
// must also carry streams (Streams).
type FilesConfig struct {
	// Dir is where received files are saved ([files] dir).
	Dir string
	// Store keeps transfers across restarts (nil: in memory only).
	Store filexfer.Store
	// MaxSize is the largest offer accepted, in bytes (0: 4096 MiB).
	MaxSize int64
	// AutoAcceptVerified accepts offers from verified contacts at once,
	// up to AutoAcceptMax bytes; otherwise every offer waits for the user.
	AutoAcceptVerified bool
	AutoAcceptMax      int64
	// OfferFor is how long an offer neither accepted nor rejected waits
	// ([files] offer_days; 0: 7 days). An offer to an offline peer waits
	// for it Config.OutboxTTL, like a message.
	OfferFor time.Duration
}

// Streams is what file transfer needs from the transport: streams of
// their own beside the chat connection (*transport.Transport has them).
type Streams interface {
	HandleStream(proto string, h transport.StreamHandler) error
	OpenStream(ctx context.Context, d transport.Dest, proto string) (*transport.Stream, error)
}

// TransferChanged: a file transfer was offered, started, progressed, or
// ended (Kind). Peer is the conversation it belongs to.
type TransferChanged struct {
	Peer     PeerKey
	Kind     filexfer.EventKind
	Transfer filexfer.Transfer
}

func (TransferChanged) isEvent() {}

// Errors of file transfer (wrapped).
var (
	ErrNoFiles         = errors.New("file transfer is off")
	ErrOriginalNoFiles = errors.New("original peers can't receive files: they have no key")
)

// startFiles creates the file-transfer engine and registers its streams
// with the transport (before Serve). Run closes it, before the transport.
func (n *Node) startFiles(fc FilesConfig) error {
	streams, ok := n.cfg.Transport.(Streams)
	if !ok {
		return errors.New("file transfer needs a transport with streams")
	}
	if n.selfID == "" {
		return errors.New("file transfer needs an identity key")
	}
	eng, err := filexfer.New(filexfer.Config{
		DownloadDir: fc.Dir,
		Store:       fc.Store,
		MaxSize:     fc.MaxSize,
		QueueFor:    n.cfg.OutboxTTL,
		OfferFor:    fc.OfferFor,
		Now:         n.cfg.Now,
		Logger:      n.log.With("part", "files"),
		Dial: func(ctx context.Context, peer string) (io.ReadWriteCloser, error) {
			p, ok := n.Peer(PeerKey("id:" + peer))
			if !ok || !p.Online || !p.Addr.IsValid() {
				return nil, filexfer.ErrOffline
			}
			return n.openStream(ctx, streams, p, filexfer.ALPN)
		},
		OnEvent: n.transferEvent,
		AutoAccept: func(t filexfer.Transfer) bool {
			if !fc.AutoAcceptVerified || t.Size > fc.AutoAcceptMax {
				return false
			}
			p, ok := n.Peer(PeerKey("id:" + t.Peer))
			return ok && p.Trust == TrustVerified
		},
	})
	if err != nil {
		return fmt.Errorf("start file transfer: %w", err)
	}
	err = streams.HandleStream(filexfer.ALPN, func(ctx context.Context, s *transport.Stream) {
		eng.ServeConn(ctx, s.Peer(), s)
	})
	if err != nil {
		eng.Close()
		return fmt.Errorf("start file transfer: %w", err)
	}
	n.files = eng
	return nil
}

// transferEvent turns an engine event into a node event. The engine calls
// it from its goroutines, never holding its own lock.
func (n *Node) transferEvent(ev filexfer.Event) {
	conv := n.transferConv(ev.Transfer)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.emit(TransferChanged{Peer: conv, Kind: ev.Kind, Transfer: ev.Transfer})
}

// transferConv is the conversation a transfer belongs to: its group's,
// when it was offered in a group this node is in and the peer is a member
// of, else the peer's. Never called with n.mu held.
func (n *Node) transferConv(t filexfer.Transfer) PeerKey {
	peer := PeerKey("id:" + t.Peer)
	if t.Group == "" || n.grp == nil {
		return peer
	}
	key := PeerKey(GroupKeyPrefix + t.Group)
	g, ok := n.Group(key)
	if !ok || !g.Joined {
		return peer
	}
	for _, m := range g.Members {
		if m.Key == peer {
			return key
		}
	}
	return peer
}

// filesOnline tells the engine that a keyed peer is online again, so its
// downloads retry at once. Never called with n.mu held.
func (n *Node) filesOnline(identity string) {
	if n.files != nil && identity != "" {
		n.files.PeerOnline(identity)
	}
}

// closeFiles stops the engine (downloads keep their checkpoints).
func (n *Node) closeFiles() {
	if n.files != nil {
		if err := n.files.Close(); err != nil {
			n.log.Warn("stop file transfer", "err", err)
		}
	}
}

// SendFile offers the file at path (a leading ~ is the home directory) to
// a peer. It hashes the file first and returns once the peer has the offer
// (or refused it), or once the offer is queued for a peer that is offline
// (it goes out when the peer is back, for OutboxTTL), so run it off the
// UI's goroutine; events report the rest.
func (n *Node) SendFile(ctx context.Context, key PeerKey, path string) (filexfer.Transfer, error) {
	if n.files == nil {
		return filexfer.Transfer{}, ErrNoFiles
	}
	p, ok := n.Peer(key)
	switch {
	case !ok:
		return filexfer.Transfer{}, fmt.Errorf("send a file to %s: %w", key, ErrUnknownPeer)
	case p.Original():
		return filexfer.Transfer{}, fmt.Errorf("send a file to %s: %w", p.Nickname, ErrOriginalNoFiles)
	}
	src, err := n.hashFile(ctx, path)
	if err != nil {
		return filexfer.Transfer{}, err
	}
	t, err := n.files.OfferSource(ctx, p.Identity, src, filexfer.OfferOptions{})
	if err != nil {
		return t, fmt.Errorf("send %s to %s: %w", src.Name, p.Nickname, err)
	}
	return t, nil
}

// hashFile expands ~ in path and reads and hashes the regular file there.
func (n *Node) hashFile(ctx context.Context, path string) (filexfer.Source, error) {
	path, err := ExpandHome(path)
	if err != nil {
		return filexfer.Source{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return filexfer.Source{}, fmt.Errorf("send a file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return filexfer.Source{}, fmt.Errorf("send a file: %s is not a regular file", path)
	}
	return filexfer.HashFile(ctx, path)
}

// groupOffers bounds the offers of one SendFileToGroup made at once.
const groupOffers = 8

// SendFileToGroup offers the file at path to every other member of a
// group (key is its GroupKey): the file is hashed once, and each member
// gets a transfer of its own, shown in the group's conversation (on their
// side too), with one Batch id. Members that are offline get the offer
// when they are back (queued, like SendFile). It returns the transfers
// made, and an error naming the members whose offer failed.
func (n *Node) SendFileToGroup(ctx context.Context, key PeerKey, path string) ([]filexfer.Transfer, error) {
	if n.files == nil {
		return nil, ErrNoFiles
	}
	g, ok := n.Group(key)
	switch {
	case !ok:
		return nil, fmt.Errorf("send a file to %s: no such group; /groups lists yours", key)
	case !g.Joined:
		return nil, fmt.Errorf("send a file to #%s: you are no longer in it", g.Name)
	}
	var members []GroupMember
	for _, m := range g.Members {
		if !m.Self {
			members = append(members, m)
		}
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("send a file to #%s: nobody else is in it yet", g.Name)
	}
	src, err := n.hashFile(ctx, path)
	if err != nil {
		return nil, err
	}
	opts := filexfer.OfferOptions{Group: g.ID.String(), Batch: newBatchID()}
	out := make([]filexfer.Transfer, len(members))
	errs := make([]error, len(members))
	sem := make(chan struct{}, groupOffers)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t, err := n.files.OfferSource(ctx, m.Identity, src, opts)
			out[i] = t
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", m.Nickname, err)
			}
		})
	}
	wg.Wait()
	var made []filexfer.Transfer
	for i := range out {
		if out[i].ID != "" {
			made = append(made, out[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		return made, fmt.Errorf("send %s to #%s: %w", src.Name, g.Name, err)
	}
	return made, nil
}

// newBatchID is a random id for the offers of one file to a group.
func newBatchID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ExpandHome replaces a leading "~" or "~/" with the home directory.
func ExpandHome(path string) (string, error) {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand ~: %w", err)
	}
	return filepath.Join(home, path[1:]), nil
}

// TransferID turns what a user typed (a short id or more) into a
// transfer's id; "" means the one transfer waiting for an answer, when
// there is exactly one.
func (n *Node) TransferID(typed string) (string, error) {
	if n.files == nil {
		return "", ErrNoFiles
	}
	if typed != "" {
		return n.files.Lookup(typed)
	}
	var waiting []string
	for _, t := range n.files.Transfers() {
		if t.Dir == filexfer.Receive && t.State == filexfer.StateOffered {
			waiting = append(waiting, t.ID)
		}
	}
	switch len(waiting) {
	case 0:
		return "", errors.New("no offer is waiting for an answer")
	case 1:
		return waiting[0], nil
	}
	return "", fmt.Errorf("%d offers are waiting: name one by its id (/transfers lists them)", len(waiting))
}

// AcceptFile starts (or resumes) downloading an offer; typed is its id as
// the user typed it, or "" for the only offer waiting.
func (n *Node) AcceptFile(typed string) (filexfer.Transfer, error) {
	return n.onTransfer(typed, func(id string) error { return n.files.Accept(id) })
}

// RejectFile declines an offer and tells the sender.
func (n *Node) RejectFile(typed string) (filexfer.Transfer, error) {
	return n.onTransfer(typed, func(id string) error { return n.files.Reject(id) })
}

// CancelFile stops a transfer in either direction.
func (n *Node) CancelFile(typed string) (filexfer.Transfer, error) {
	if typed == "" {
		return filexfer.Transfer{}, errors.New("name the transfer to cancel by its id (/transfers lists them)")
	}
	return n.onTransfer(typed, func(id string) error { return n.files.Cancel(id) })
}

func (n *Node) onTransfer(typed string, do func(id string) error) (filexfer.Transfer, error) {
	id, err := n.TransferID(typed)
	if err != nil {
		return filexfer.Transfer{}, err
	}
	if err := do(id); err != nil {
		return filexfer.Transfer{}, err
	}
	t, _ := n.files.Get(id)
	return t, nil
}

// Transfers lists every file transfer, oldest first (nil when file
// transfer is off).
func (n *Node) Transfers() []filexfer.Transfer {
	if n.files == nil {
		return nil
	}
	return n.files.Transfers()
}
