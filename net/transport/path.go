package transport

import (
	"context"
	"fmt"
)

// Path says how the kept connection to a peer was made.
type Path int

const (
	// PathNone: no kept connection (the next Send dials).
	PathNone Path = iota
	// PathDirect: this node dialed the peer (Send, Connect).
	PathDirect
	// PathPunched: TCP hole punching (Punch).
	PathPunched
	// PathRelayed: a stream through a relay (Attach).
	PathRelayed
)

func (p Path) String() string {
	switch p {
	case PathDirect:
		return "direct"
	case PathPunched:
		return "punched"
	case PathRelayed:
		return "relayed"
	}
	return "none"
}

// shownPath is a kept connection's path and end, for Path.
type shownPath struct {
	path Path
	dead <-chan struct{}
}

// setPath records how p.conn (set, with p.dead) was made; p's sem is held.
func (p *peer) setPath(path Path) {
	p.path = path
	p.shown.Store(&shownPath{path: path, dead: p.dead})
}

// Path reports how the kept connection to the peer with identity id was
// made, or PathNone when there is none (or it has ended). It never waits
// for a Send or a dial under way.
func (t *Transport) Path(id string) Path {
	if id == "" {
		return PathNone
	}
	t.mu.Lock()
	p := t.peers[peerKey{identity: id}]
	t.mu.Unlock()
	if p == nil {
		return PathNone
	}
	sp := p.shown.Load()
	if sp == nil {
		return PathNone
	}
	select {
	case <-sp.dead:
		return PathNone
	default:
		return sp.path
	}
}

// Connect makes sure there is a kept connection to d, dialing it (as Send
// would) when there is none, and reports its path. Unlike Send it does
// not hold the peer's connection slot while it dials: a Punch or Attach
// that succeeds meanwhile installs its connection, and the dialed one is
// then closed. ctx bounds the dial (DialTimeout applies too).
func (t *Transport) Connect(ctx context.Context, d Dest) (Path, error) {
	if err := t.checkDest(ctx, d); err != nil {
		return PathNone, err
	}
	if path := t.Path(d.Identity); path != PathNone && d.Identity != "" {
		return path, nil
	}
	c, err := t.dialDest(ctx, d, nil)
	if err != nil {
		return PathNone, err
	}
	p, err := t.acquire(ctx, keyOf(d))
	if err != nil {
		closeNow(c)
		return PathNone, fmt.Errorf("connect to %s: %w", d.Addr, err)
	}
	defer p.release()
	if p.conn != nil && !p.isDead() {
		closeNow(c) // another way got there first
		return p.path, nil
	}
	p.drop()
	if err := t.install(p, d, c); err != nil {
		return PathNone, err
	}
	return PathDirect, nil
}
