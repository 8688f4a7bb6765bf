package rendezvous

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// origServer mimics the original Rust bootstrap server: only the original
// messages, only the original fields, nothing pushed. It does not use
// net/wire, so it checks the client against the protocol, not against our
// own encoding.
type origServer struct {
	t   testing.TB
	url string

	mu       sync.Mutex
	peers    map[string]*origPeer
	counts   map[string]int // messages received by type
	raw      []string       // every message received
	conns    map[*websocket.Conn]bool
	wg       sync.WaitGroup
	srv      *http.Server
	upgrader websocket.Upgrader
}

type origPeer struct {
	PeerID     string `json:"peer_id"`
	Nickname   string `json:"nickname"`
	PublicAddr string `json:"public_addr"`
	LocalAddr  string `json:"local_addr"`
	LastSeen   int64  `json:"last_seen"`
}

func startOrigServer(t testing.TB) *origServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &origServer{t: t, url: "ws://" + ln.Addr().String(), peers: make(map[string]*origPeer),
		counts: make(map[string]int), conns: make(map[*websocket.Conn]bool)}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.close)
	return s
}

func (s *origServer) close() {
	_ = s.srv.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *origServer) count(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[typ]
}

func (s *origServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[ws] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	var myID string
	defer func() {
		s.mu.Lock()
		delete(s.peers, myID)
		delete(s.conns, ws)
		s.mu.Unlock()
		_ = ws.Close()
	}()
	send := func(v any) {
		b, _ := json.Marshal(v)
		_ = ws.WriteMessage(websocket.TextMessage, b)
	}
	sendError := func(msg string) {
		send(struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}{"error", msg})
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		// Like serde: unknown fields are ignored, missing ones fail.
		var m struct {
			Type      string  `json:"type"`
			Nickname  *string `json:"nickname"`
			LocalAddr *string `json:"local_addr"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			sendError("Invalid message format: " + err.Error())
			continue
		}
		s.mu.Lock()
		s.counts[m.Type]++
		s.raw = append(s.raw, string(data))
		s.mu.Unlock()
		switch m.Type {
		case "register":
			if m.Nickname == nil || m.LocalAddr == nil {
				sendError("Invalid message format: missing field")
				continue
			}
			_, port, err := net.SplitHostPort(*m.LocalAddr)
			if err != nil {
				sendError("Invalid message format: " + err.Error())
				continue
			}
			// The original makes a new entry for every register.
			myID = fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), rand.Uint64()&0xffffffffffff)
			p := &origPeer{PeerID: myID, Nickname: *m.Nickname, PublicAddr: net.JoinHostPort(host, port),
				LocalAddr: *m.LocalAddr, LastSeen: time.Now().Unix()}
			s.mu.Lock()
			s.peers[myID] = p
			s.mu.Unlock()
			send(struct {
				Type       string `json:"type"`
				PeerID     string `json:"peer_id"`
				PublicAddr string `json:"public_addr"`
			}{"registered", p.PeerID, p.PublicAddr})
		case "list_peers":
			s.mu.Lock()
			list := make([]origPeer, 0, len(s.peers))
			for _, p := range s.peers {
				list = append(list, *p)
			}
			s.mu.Unlock()
			send(struct {
				Type  string     `json:"type"`
				Peers []origPeer `json:"peers"`
			}{"peer_list", list})
		case "heartbeat":
			s.mu.Lock()
			p := s.peers[myID]
			if p != nil {
				p.LastSeen = time.Now().Unix()
			}
			s.mu.Unlock()
			switch {
			case myID == "":
				sendError("Not registered")
			case p == nil:
				sendError("Peer not registered")
			}
		case "unregister":
			s.mu.Lock()
			delete(s.peers, myID)
			s.mu.Unlock()
		default:
			sendError("Invalid message format: unknown variant `" + m.Type + "`")
		}
	}
}

// addPeer registers a peer directly, as if an original client had.
func (s *origServer) addPeer(nick string, port int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", rand.Uint32())
	s.peers[id] = &origPeer{PeerID: id, Nickname: nick, PublicAddr: "127.0.0.1:" + strconv.Itoa(port),
		LocalAddr: "0.0.0.0:" + strconv.Itoa(port), LastSeen: time.Now().Unix()}
	return id
}

func (s *origServer) removePeer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peers, id)
}
