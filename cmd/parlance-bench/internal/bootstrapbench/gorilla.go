package bootstrapbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// gorillaServer is the baseline of the memory figures: a registry server
// in the shape of gorilla/websocket's chat example, with the library's
// defaults: 4 KB read and write buffers per connection, and a reader and
// a writer goroutine (with its own ping ticker) for every connection. It
// answers register and heartbeat as the original does, nothing more.
type gorillaServer struct {
	upgrader websocket.Upgrader

	mu    sync.Mutex
	conns map[*gorillaConn]struct{}
	peers map[string]*gorillaPeer
}

type gorillaPeer struct {
	id, nickname  string
	public, local netip.AddrPort
	lastSeen      time.Time
}

type gorillaConn struct {
	ws   *websocket.Conn
	send chan []byte
	peer *gorillaPeer
}

const (
	gorillaPongWait   = 60 * time.Second
	gorillaPingPeriod = gorillaPongWait * 9 / 10
	gorillaWriteWait  = 10 * time.Second
)

func newGorillaServer() *gorillaServer {
	return &gorillaServer{
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		conns:    map[*gorillaConn]struct{}{},
		peers:    map[string]*gorillaPeer{},
	}
}

func (s *gorillaServer) counts() (int, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), len(s.peers), 0
}

func (s *gorillaServer) serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close() // the benchmark is done with it: no graceful close
		s.mu.Lock()
		for c := range s.conns {
			_ = c.ws.Close()
		}
		s.mu.Unlock()
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *gorillaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gorillaConn{ws: ws, send: make(chan []byte, 256)}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go c.writePump()
	go s.readPump(c, r.RemoteAddr)
}

func (s *gorillaServer) readPump(c *gorillaConn, remote string) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if c.peer != nil {
			delete(s.peers, c.peer.id)
		}
		s.mu.Unlock()
		close(c.send)
		_ = c.ws.Close()
	}()
	ip := netip.IPv4Unspecified()
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		ip = ap.Addr()
	}
	c.ws.SetReadLimit(wire.MaxClientMessage)
	_ = c.ws.SetReadDeadline(time.Now().Add(gorillaPongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(gorillaPongWait)) })
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(gorillaPongWait))
		msg, err := wire.ParseClientMessage(data)
		if err != nil {
			continue
		}
		switch m := msg.(type) {
		case wire.Register:
			s.mu.Lock()
			if c.peer == nil {
				var b [16]byte
				_, _ = rand.Read(b[:])
				c.peer = &gorillaPeer{id: hex.EncodeToString(b[:])}
				s.peers[c.peer.id] = c.peer
			}
			p := c.peer
			p.nickname, p.local, p.lastSeen = m.Nickname, m.LocalAddr, time.Now()
			p.public = netip.AddrPortFrom(ip, m.LocalAddr.Port())
			reply, _ := wire.MarshalServer(wire.Registered{PeerID: p.id, PublicAddr: p.public})
			s.mu.Unlock()
			select {
			case c.send <- reply:
			default: // the chat example drops a client that does not read
				return
			}
		case wire.Heartbeat:
			s.mu.Lock()
			if c.peer != nil {
				c.peer.lastSeen = time.Now()
			}
			s.mu.Unlock()
		}
	}
}

func (c *gorillaConn) writePump() {
	ticker := time.NewTicker(gorillaPingPeriod)
	defer ticker.Stop()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				return
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(gorillaWriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ticker.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(gorillaWriteWait)); err != nil {
				return
			}
		}
	}
}
