package bootstrap

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// registerOriginals registers n original clients in the default room and
// returns them.
func registerOriginals(t *testing.T, srv *testServer, n int, nickPrefix string) []*rawClient {
	t.Helper()
	var cs []*rawClient
	for i := range n {
		c := dial(t, srv.url)
		c.sendText(fmt.Sprintf(`{"type":"register","nickname":"%s%d","local_addr":"0.0.0.0:%d"}`, nickPrefix, i, 1000+i))
		recvType[wire.Registered](c)
		cs = append(cs, c)
	}
	return cs
}

// Repeated list_peers get the very same encoded list until the room
// changes; original and Parlance clients each get their own kind, and an
// original client's stays exactly the original's shape.
func TestPeerListCached(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock, MaxConnsPerIP: 1000, ListBurst: 1000})
	clock.waitTickers(t, 3)
	origs := registerOriginals(t, srv, listCacheMin, "o")
	ext := dial(t, srv.url)
	ext.register("ext", "", true) // features make it a Parlance client

	first := origs[0]
	first.sendText(`{"type":"list_peers"}`)
	raw1 := first.recvRaw()
	if strings.Contains(raw1, `"identity"`) || !strings.HasPrefix(raw1, `{"type":"peer_list","peers":[{"peer_id":"`) {
		t.Fatalf("original client got %.200s", raw1)
	}
	l := recvOf[wire.PeerList](t, raw1)
	if len(l.Peers) != listCacheMin+1 {
		t.Fatalf("%d entries, want %d", len(l.Peers), listCacheMin+1)
	}
	for _, p := range l.Peers {
		if keys := jsonKeysOfEntry(t, raw1, p.PeerID); !slices.Equal(keys, []string{"peer_id", "nickname", "public_addr", "local_addr", "last_seen"}) {
			t.Fatalf("entry keys %v", keys)
		}
	}

	cached := func(kind int) *peerList {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.rooms[""].lists[kind].ready
	}
	c1 := cached(listOriginal)
	if c1 == nil {
		t.Fatal("the list was not kept")
	}
	// Another original client gets the same bytes, from the same array.
	origs[1].sendText(`{"type":"list_peers"}`)
	if raw2 := origs[1].recvRaw(); raw2 != raw1 {
		t.Errorf("second list differs:\n%.200s\n%.200s", raw1, raw2)
	}
	if c2 := cached(listOriginal); c2 != c1 {
		t.Error("the second list_peers built a new list")
	}
	// A heartbeat changes no entry but last_seen: the list is reused.
	clock.Advance(100 * time.Millisecond)
	origs[2].sendText(`{"type":"heartbeat"}`)
	origs[2].sendText(`{"type":"list_peers"}`)
	origs[2].recvRaw()
	if cached(listOriginal) != c1 {
		t.Error("a heartbeat invalidated the list")
	}

	// The Parlance client's kind: same peers.
	ext.send(wire.ListPeers{})
	if el := recvType[wire.PeerList](ext); len(el.Peers) != len(l.Peers) {
		t.Errorf("extended list has %d entries", len(el.Peers))
	}
	if cached(listExtended) == nil || cached(listExtended) == c1 {
		t.Error("no separate extended list")
	}

	// A join invalidates it.
	registerOriginals(t, srv, 1, "late")
	first.sendText(`{"type":"list_peers"}`)
	if l := recvType[wire.PeerList](first); len(l.Peers) != listCacheMin+2 {
		t.Errorf("after a join: %d entries", len(l.Peers))
	}
	if cached(listOriginal) == c1 {
		t.Error("the list was not rebuilt after a join")
	}

	// After listMaxAge a list is not reused (last_seen moved on), and the
	// timer forgets it.
	c3 := cached(listOriginal)
	clock.Advance(listMaxAge)
	waitFor(t, "stale list forgotten", func() bool { return cached(listOriginal) == nil })
	first.sendText(`{"type":"list_peers"}`)
	recvType[wire.PeerList](first)
	if c4 := cached(listOriginal); c4 == nil || c4 == c3 {
		t.Error("no fresh list after listMaxAge")
	}
}

// jsonKeysOfEntry returns the keys of the peer_list entry with peer_id id.
func jsonKeysOfEntry(t *testing.T, raw, id string) []string {
	t.Helper()
	i := strings.Index(raw, `{"peer_id":"`+id+`"`)
	if i < 0 {
		t.Fatalf("no entry %s", id)
	}
	j := strings.IndexByte(raw[i:], '}')
	return jsonKeys(t, raw[i:i+j+1])
}

// A list cut at MaxListPeers includes the caller: first, in place of the
// last entry, when the shared list leaves it out.
func TestPeerListCutIncludesCaller(t *testing.T) {
	srv := startServer(t, Config{MaxListPeers: 3, MaxConnsPerIP: 100})
	cs := registerOriginals(t, srv, 6, "p")
	for i, c := range cs {
		c.sendText(`{"type":"list_peers"}`)
		raw := c.recvRaw()
		l := recvOf[wire.PeerList](t, raw)
		if len(l.Peers) != 3 {
			t.Fatalf("client %d: %d entries, want 3", i, len(l.Peers))
		}
		seen := make(map[string]bool)
		own := -1
		for j, p := range l.Peers {
			if seen[p.PeerID] {
				t.Errorf("client %d: %s listed twice", i, p.PeerID)
			}
			seen[p.PeerID] = true
			if p.Nickname == fmt.Sprintf("p%d", i) {
				own = j
			}
		}
		if own < 0 {
			t.Errorf("client %d is not in its list %+v", i, l.Peers)
		}
		if strings.Contains(raw, `"identity"`) {
			t.Errorf("original client got identities: %s", raw)
		}
	}
}

// MaxListPeers of 1: a caller left out gets a list of itself alone.
func TestPeerListCutToOne(t *testing.T) {
	srv := startServer(t, Config{MaxListPeers: 1})
	cs := registerOriginals(t, srv, 3, "p")
	for i, c := range cs {
		c.sendText(`{"type":"list_peers"}`)
		if l := recvType[wire.PeerList](c); len(l.Peers) != 1 || l.Peers[0].Nickname != fmt.Sprintf("p%d", i) {
			t.Errorf("client %d got %+v", i, l.Peers)
		}
	}
}

// Push clients that join one room at once, and leave again, each end up
// with a view (their first list plus the pushes after it) equal to the
// room: lists built outside the lock and shared between joiners never
// lose or reorder a change.
func TestConcurrentJoinsConsistent(t *testing.T) {
	const n = listCacheMin + 16
	srv := startServer(t, Config{MaxConnsPerIP: 1000, RegisterBurst: 1000})
	type view struct {
		mu    sync.Mutex
		self  string
		peers map[string]bool
		err   error
	}
	views := make([]*view, n)
	clients := make([]*rawClient, n)
	var readers sync.WaitGroup
	for i := range n {
		clients[i] = dial(t, srv.url)
		views[i] = &view{peers: make(map[string]bool)}
	}
	var start sync.WaitGroup
	start.Add(1)
	for i, c := range clients {
		readers.Add(1)
		go func() {
			defer readers.Done()
			v := views[i]
			start.Wait()
			b, _ := wire.MarshalClient(wire.Register{Nickname: fmt.Sprintf("j%d", i), LocalAddr: mustAddrPort("0.0.0.0:1"), Features: []string{wire.FeaturePush}})
			_ = c.ws.WriteMessage(websocket.TextMessage, b)
			listed := false
			for {
				_, raw, err := c.ws.ReadMessage()
				if err != nil {
					return
				}
				m, err := wire.ParseServerMessage(raw)
				v.mu.Lock()
				switch m := m.(type) {
				case wire.Registered:
					v.self = m.PeerID
				case wire.PeerList:
					if listed {
						v.err = fmt.Errorf("a second peer_list")
					}
					listed = true
					clear(v.peers)
					for _, p := range m.Peers {
						v.peers[p.PeerID] = true
					}
				case wire.PeerJoined:
					if !listed {
						v.err = fmt.Errorf("peer_joined before the peer_list")
					}
					v.peers[m.Peer.PeerID] = true
				case wire.PeerLeft:
					if !listed {
						v.err = fmt.Errorf("peer_left before the peer_list")
					}
					delete(v.peers, m.PeerID)
				default:
					v.err = fmt.Errorf("unexpected %T %v", m, err)
				}
				v.mu.Unlock()
			}
		}()
	}
	start.Done()
	roomIDs := func() map[string]bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		ids := make(map[string]bool)
		if r := srv.rooms[""]; r != nil {
			for id := range r.peers {
				ids[id] = true
			}
		}
		return ids
	}
	consistent := func(alive []int) func() bool {
		return func() bool {
			want := roomIDs()
			if len(want) != len(alive) {
				return false
			}
			for _, i := range alive {
				v := views[i]
				v.mu.Lock()
				ok := v.err == nil && maps.Equal(v.peers, want)
				err := v.err
				v.mu.Unlock()
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				if !ok {
					return false
				}
			}
			return true
		}
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	waitFor(t, "every view equal to the room", consistent(all))

	// Half of them leave at once, while the rest re-register.
	var alive []int
	for i, c := range clients {
		if i%2 == 0 {
			_ = c.ws.Close()
		} else {
			alive = append(alive, i)
		}
	}
	waitFor(t, "views equal after the leaves", consistent(alive))
	for _, c := range clients {
		_ = c.ws.Close()
	}
	readers.Wait()
}

// The send queue is bounded in bytes: a client that asks for big lists
// and does not read is cut off long before SendQueue messages pile up;
// a big list still reaches a client that reads.
func TestSendQueueBytes(t *testing.T) {
	srv := startServer(t, Config{SendQueue: 10_000, SendQueueBytes: 32 << 10, WriteWait: time.Minute,
		MaxConnsPerIP: 1000, ListBurst: 100_000})
	registerOriginals(t, srv, 40, strings.Repeat("n", 28)) // ~6 KB lists

	reader := dial(t, srv.url)
	reader.register("reader", "", false)
	sleeper := dialSmallBuffer(t, srv.url)
	sleeper.register("sleeper", "", false)
	before := srv.Stats().Connections

	reader.send(wire.ListPeers{})
	listBytes := len(reader.recvRaw())
	// 300 lists are ~60 times SendQueueBytes, and far fewer than
	// SendQueue messages.
	for range 300 {
		if err := sleeper.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"list_peers"}`)); err != nil {
			break // dropped already
		}
	}
	t.Logf("lists of %d bytes", listBytes)
	waitFor(t, "the sleeper dropped", func() bool { return srv.Stats().Connections == before-1 })

	// A list bigger than SendQueueBytes reaches a client that reads.
	srv2 := startServer(t, Config{SendQueueBytes: 1024, MaxConnsPerIP: 1000})
	registerOriginals(t, srv2, 20, "p")
	c := dial(t, srv2.url)
	c.sendText(`{"type":"list_peers"}`)
	if raw := c.recvRaw(); len(raw) <= 1024 || !bytes.HasPrefix([]byte(raw), []byte(wire.PeerListHead)) {
		t.Errorf("got %d bytes: %.100s", len(raw), raw)
	}
}

// What the send queue admits, without a writer draining it.
func TestSendQueueAdmission(t *testing.T) {
	srv := startServer(t, Config{SendQueue: 4, SendQueueBytes: 1000})
	// newConn returns the server's side of a new connection, with its
	// writer marked as running so that what is queued stays queued.
	newConn := func() *conn {
		dial(t, srv.url)
		var c *conn
		waitFor(t, "the connection", func() bool {
			srv.mu.Lock()
			defer srv.mu.Unlock()
			for sc := range srv.conns {
				sc.mu.Lock()
				if !sc.writing && !sc.dead && sc.queue.len() == 0 {
					sc.writing = true
					c = sc
				}
				sc.mu.Unlock()
				if c != nil {
					return true
				}
			}
			return false
		})
		t.Cleanup(func() {
			c.mu.Lock()
			c.writing = false
			c.queue.reset()
			c.mu.Unlock()
			c.kill()
		})
		return c
	}
	big := bytes.Repeat([]byte("x"), 3000)
	push := []byte("push")

	t.Run("a big message, then pushes behind it", func(t *testing.T) {
		c := newConn()
		c.sendRaw(big) // over SendQueueBytes, but nothing else waits
		c.sendRaw(push)
		c.sendRaw(push)
		if c.dead || c.queue.len() != 3 {
			t.Fatalf("dead %v, %d queued", c.dead, c.queue.len())
		}
		c.sendRaw(big) // 8 bytes behind the head: 8+3000 > 1000
		if !c.dead {
			t.Error("a second big message was admitted behind pushes")
		}
	})
	t.Run("message count", func(t *testing.T) {
		c := newConn()
		for range 4 {
			c.sendRaw(push)
		}
		if c.dead {
			t.Fatal("dropped at the limit")
		}
		c.sendRaw(push)
		if !c.dead {
			t.Error("a fifth message was admitted")
		}
	})
	t.Run("pushes behind a list being built do not count", func(t *testing.T) {
		c := newConn()
		r := &room{}
		req := &listReq{c: c, r: r}
		c.queueList(req)
		for i := range 20 {
			c.sendPush(push, r, uint64(10+i))
		}
		if c.dead {
			t.Fatal("dropped while its list was being built")
		}
		c.fillList(req, big, nil, 14) // shows gens up to 14: five pushes go
		if c.dead || c.queue.len() != 16 {
			t.Fatalf("dead %v, %d queued, want the list and 15 pushes", c.dead, c.queue.len())
		}
		// The client could not read them yet: one more is still fine.
		c.sendPush(push, r, 40)
		if c.dead {
			t.Error("dropped right after its list was built")
		}
	})
	t.Run("a list filled behind too many bytes", func(t *testing.T) {
		c := newConn()
		c.sendRaw(push)
		c.sendRaw(bytes.Repeat([]byte("y"), 900))
		req := &listReq{c: c, r: &room{}}
		c.queueList(req)
		c.fillList(req, big, nil, 1) // 900 bytes wait ahead of it
		if !c.dead {
			t.Error("a big list was admitted behind 900 bytes")
		}
	})
}
