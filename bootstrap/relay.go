package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// # The relay
//
// Two peers that cannot reach each other directly get one token from
// issueRelay (through the hole-punching exchange), and each opens a
// WebSocket to wire.RelayPath with the token in wire.RelayTokenHeader.
// When both have arrived the server splices them: each binary message
// read from one end is written to the other as it is read, a message at
// a time, through a pooled write buffer. The peers run TLS on the
// stream, so the server carries TLS records it cannot read.
//
// Why WebSocket messages rather than raw bytes after the upgrade: a
// gorilla client may have read the first bytes the server sent after
// its 101 into its handshake buffer, where a raw byte stream could not
// get them back; messages also pass proxies that look inside
// WebSocket traffic, and they give every read a size limit
// (wire.MaxRelayMessage).
//
// Tokens are 32 bytes (the issuing server's 6-byte tag, then 26 random
// bytes), used once: the two sockets that present
// one are spliced and the token is forgotten. An unused token expires
// after Config.RelayTTL, and an end that waited for its partner that
// long is closed with 1008. The token is a bearer secret that only the
// two peers' own sessions carry; someone who stole it could take a
// peer's place in the relay, but not the TLS handshake, which each peer
// pins to the other's key: theft denies the relay, it does not open it.
// Logs name a relay by a hash of its token, never the token.
//
// # Limits
//
//   - Config.MaxRelays relays carrying bytes on the server, and
//     Config.MaxRelaysPerClient per identity: the second end of a relay
//     beyond them is refused (HTTP 503) and the first closed (1013).
//     Tokens are cheap and most go unused (a punched connection needs
//     none): issueRelay gives up to relayWaitingFactor times as many,
//     and none while the server's connections are over 90% of MaxConns
//     (relay sockets count as connections, so they can never take the
//     last tenth of the slots from registrations).
//   - Config.MaxRelaysPerIP relay sockets per source IP (IPv6: /64), HTTP
//     429 beyond. A relay socket stops counting against MaxConnsPerIP
//     once its token is accepted: relays from one address do not crowd
//     out its registrations.
//   - Bytes per second, as token buckets shared by all the relays of a
//     client: every byte a relay carries counts against both peers'
//     identities (Config.RelayRate each: the server cannot tell which
//     end is which peer, and each takes part in every byte) and against
//     the source IP of the end that sent it (Config.RelayRatePerIP).
//     While a bucket is in debt the server stops reading that end, so
//     TCP pushes back on the sender; nothing is buffered beyond one
//     message.
//   - Config.RelayIdle without a byte either way ends a relay; an end
//     that stops taking bytes is cut off after WriteWait, like any
//     client.
//
// Each relay's end is logged with its byte counts and duration; Stats
// (and /healthz) count relays waiting, spliced, done, refused and the
// bytes carried.
//
// # Goroutines
//
// A waiting relay has none (its expiry is a timer). A spliced relay has
// two pumps, one per direction, counted in Server.wg; the pump that ends
// first closes both sockets, and the last one to end gives back the
// relay's counts and logs it. An idle timer checks activity. An end on
// another server (a busPort) adds the bus's subscription of its own,
// ended when the port closes.
//
// # Several servers
//
// With Config.Bus, the two peers may be registered on different
// servers, and an end may arrive at any server: an end whose token
// another server issued is forwarded to it over the bus (see
// relaycluster.go).

// Defaults of the relay's Config fields.
const (
	DefaultMaxRelays          = 1000
	DefaultMaxRelaysPerClient = 8
	DefaultMaxRelaysPerIP     = 32
	DefaultRelayRate          = 1 << 20 // bytes per second per identity
	DefaultRelayRatePerIP     = 4 << 20 // bytes per second per source IP
	DefaultRelayTTL           = 10 * time.Second
	DefaultRelayIdle          = 10 * time.Minute // the transport closes idle connections after 5
)

// relayWriteBuffer is the size of the pooled buffer a pump writes a
// message through: a whole TLS record (16 KiB + overhead) and its
// frame header fit.
const relayWriteBuffer = 32 << 10

// relayState is where a relay is in its life.
type relayState uint8

const (
	relayWaiting relayState = iota // issued; not both ends arrived
	relaySpliced                   // both ends arrived; pumps running
	relayEnded                     // expired or aborted before splicing
)

// relay is one issued token and, once they arrive, its two ends.
type relay struct {
	s     *Server
	token string
	id    string    // names the relay in logs: a hash of the token
	peers [2]string // the identities it was issued for
	start time.Time // issued; real time, for the logged duration

	expiry *time.Timer // ends a waiting relay at RelayTTL
	idle   *time.Timer // ends a spliced relay after RelayIdle without a byte

	// home: issued here (in byToken, counted in perID); else it forwards
	// a local end to the relay's home server over the cluster bus.
	home bool
	// reserved: counted in relayLimits.active (from its second end's
	// arrival); guarded by Server.mu.
	reserved bool
	// abortCode and abortWhy close an end that arrives after abort;
	// guarded by Server.mu.
	abortCode int
	abortWhy  string

	// Guarded by Server.mu:
	state   relayState
	claimed int           // ends that presented the token (some may still be upgrading)
	ends    [2]relayEnd   // the ends that arrived, in order of arrival
	joined  int           // len of ends in use
	buckets []*rateBucket // set when spliced: all it uses, to give back

	// rates are the buckets that reading each end spends from: both
	// identities (at home), and the end's address (a local end). Set
	// when spliced.
	rates [2][]*rateBucket

	done     chan struct{} // closed by stop
	stopOnce sync.Once
	reason   string       // why it stopped; written once by stop
	pumps    atomic.Int32 // pump goroutines still running
	bytes    [2]atomic.Int64
	last     atomic.Int64 // Unix ns (real) of the last byte read
}

// relayEnd is one peer's end of a relay: its WebSocket here, or a
// stream to the server of the cluster that holds it (busPort).
type relayEnd struct {
	port relayPort
	nc   net.Conn // the socket of a local end (it holds an accept slot); nil for a remote end
	ip   netip.Addr
	key  netip.Prefix // ipKey(ip): what Config.MaxRelaysPerIP counts (local ends)
}

// relayPort is what a pump needs of an end: the methods of
// *websocket.Conn it uses (busPort implements them over the cluster bus).
type relayPort interface {
	NextReader() (messageType int, r io.Reader, err error)
	NextWriter(messageType int) (io.WriteCloser, error)
	WriteControl(messageType int, data []byte, deadline time.Time) error
	Close() error
}

// relayLimits is the relay's part of Server, guarded by Server.mu.
type relayLimits struct {
	byToken map[string]*relay // waiting relays
	all     map[*relay]struct{}
	perID   map[string]int // home relays by identity, waiting or spliced
	active  int            // home relays spliced
	// activePerID counts the home relays spliced by identity.
	activePerID map[string]int
	perIP       map[netip.Prefix]int
	buckets     map[string]*rateBucket // "id " + identity, "ip " + ipKey

	done, refused, throttled uint64
	bytes                    int64 // carried by relays that ended
}

func (rs *relayLimits) init() {
	rs.byToken = make(map[string]*relay)
	rs.all = make(map[*relay]struct{})
	rs.perID = make(map[string]int)
	rs.activePerID = make(map[string]int)
	rs.perIP = make(map[netip.Prefix]int)
	rs.buckets = make(map[string]*rateBucket)
}

func newRelayUpgrader() websocket.Upgrader {
	return websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// A small read buffer for frame headers: payloads are read
		// straight into the write buffer (reads bigger than the buffer
		// bypass it), which is held only while a message is copied.
		ReadBufferSize:  512,
		WriteBufferSize: relayWriteBuffer,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
}

// issueRelay reserves a relay between the peers whose proved identities
// are a and b and returns the token both present to the relay endpoint
// (wire.RelayPath). ok is false when the relay is off (Config.NoRelay),
// the server is shutting down, either peer is not registered with that
// identity (here, or with Config.Bus on another server of the cluster:
// its end is then forwarded here), the server's connections are over
// 90% of MaxConns, or tokens pile up: relayWaitingFactor times
// Config.MaxRelays waiting on the server, or that many times
// Config.MaxRelaysPerClient of a or b (waiting or spliced). A token is
// cheap and most are never used (a punched connection needs none), so
// the limits of relays that carry bytes apply when the second end
// arrives (see reserveSpliceLocked). The token expires unused after
// Config.RelayTTL. Call it without Server.mu held.
func (s *Server) issueRelay(a, b string) (token string, ok bool) {
	if s.cfg.NoRelay || a == "" || b == "" || a == b {
		return "", false
	}
	token = s.newRelayToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := &s.relay
	why := ""
	switch {
	case s.closing:
		why = "server shutting down"
	case !s.relayableLocked(a) || !s.relayableLocked(b):
		why = "a peer is not registered"
	case len(rs.byToken) >= relayWaitingFactor*s.cfg.MaxRelays:
		why = "server at its limit of relay tokens"
	case rs.perID[a] >= relayWaitingFactor*s.cfg.MaxRelaysPerClient || rs.perID[b] >= relayWaitingFactor*s.cfg.MaxRelaysPerClient:
		why = "client at its limit of relay tokens"
	case s.nconns+2 > s.cfg.MaxConns*9/10:
		why = "server connections nearly full"
	}
	if why != "" {
		rs.refused++
		s.warn.log(slog.LevelInfo, "relay refused", "reason", why, "a", a, "b", b)
		return "", false
	}
	rl := &relay{s: s, token: token, id: relayID(token), peers: [2]string{a, b}, start: time.Now(), done: make(chan struct{}), home: true}
	rs.byToken[token] = rl
	rs.all[rl] = struct{}{}
	rs.perID[a]++
	rs.perID[b]++
	// Set before it can fire: expire reads it.
	rl.expiry = time.AfterFunc(time.Hour, rl.expire)
	rl.expiry.Reset(s.cfg.RelayTTL)
	s.log.Debug("relay issued", "relay", rl.id, "a", a, "b", b)
	return token, true
}

// relayWaitingFactor is how many more tokens than relays may be issued
// (see issueRelay).
const relayWaitingFactor = 4

// reserveSpliceLocked counts a relay whose second end arrives among those
// carrying bytes, or says why it may not be: the server carries
// Config.MaxRelays, or a or b Config.MaxRelaysPerClient. (Relays
// forwarded for another server are limited by their home.)
func (s *Server) reserveSpliceLocked(rl *relay) string {
	rs := &s.relay
	switch {
	case rs.active >= s.cfg.MaxRelays:
		return "the server carries as many relays as it may; try again later"
	case rs.activePerID[rl.peers[0]] >= s.cfg.MaxRelaysPerClient || rs.activePerID[rl.peers[1]] >= s.cfg.MaxRelaysPerClient:
		return "a peer has as many relays as it may; try again later"
	}
	rl.reserved = true
	rs.active++
	for _, id := range rl.peers {
		rs.activePerID[id]++
	}
	return ""
}

// relayableLocked reports whether a relay can be issued for identity id:
// it is registered here, or (Config.Bus) on another server of the
// cluster, whose end is then forwarded here.
func (s *Server) relayableLocked(id string) bool {
	p := s.byIdentity[id]
	return p != nil && (p.c != nil || s.cfg.Bus != nil)
}

// newRelayToken returns a new token: this server's relay tag (6 bytes,
// the first 8 characters: other servers of the cluster forward an end
// that arrives with it here), then 26 random bytes.
func (s *Server) newRelayToken() string {
	var b [32]byte
	copy(b[:6], s.relayTagBytes[:])
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// relayID names a relay in logs without giving its token away.
func relayID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// serveRelay serves the relay endpoint: it checks the token, upgrades,
// and splices the two ends once both are there.
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	if s.cfg.NoRelay {
		http.Error(w, "this bootstrap server runs no relay", http.StatusNotFound)
		return
	}
	token := r.Header.Get(wire.RelayTokenHeader)
	if err := wire.ValidateRelayToken(token); err != nil {
		s.refuseRelay(w, http.StatusBadRequest, err.Error())
		return
	}
	nc, _ := r.Context().Value(netConnKey{}).(net.Conn)
	ip, _ := s.clientIP(r)
	key := ipKey(ip)
	home := token[:relayTagLen] == s.relayTag

	s.mu.Lock()
	var rl *relay
	if home {
		rl = s.relay.byToken[token]
	}
	status, msg := 0, ""
	switch {
	case s.closing:
		status, msg = http.StatusServiceUnavailable, "server shutting down"
	case home && (rl == nil || rl.state != relayWaiting || rl.claimed >= 2), !home && s.cfg.Bus == nil:
		status, msg = http.StatusForbidden, "unknown, expired or used relay token"
	case s.relay.perIP[key] >= s.cfg.MaxRelaysPerIP:
		status, msg = http.StatusTooManyRequests, "too many relays from this address"
	case home && rl.claimed == 1:
		if msg = s.reserveSpliceLocked(rl); msg != "" {
			status = http.StatusServiceUnavailable
		}
	}
	if status != 0 {
		s.mu.Unlock()
		s.refuseRelay(w, status, msg)
		if status == http.StatusServiceUnavailable && rl != nil {
			rl.abort(websocket.CloseTryAgainLater, msg)
		}
		return
	}
	if rl != nil {
		rl.claimed++
	}
	s.relay.perIP[key]++
	// From here the socket counts as a relay of its address, not as one
	// of its MaxConnsPerIP.
	if fc, ok := nc.(*flushConn); ok && fc.slot.counted && fc.slot.perIP {
		fc.slot.perIP = false
		s.releaseLocked(fc.slot.ip, false, true)
	}
	s.mu.Unlock()
	if !home {
		s.forwardRelay(w, r, token, nc, ip, key)
		return
	}

	ws, err := s.upgradeRelay(w, r)
	s.mu.Lock()
	if err != nil || rl.state != relayWaiting || s.closing {
		s.releaseRelaySocketLocked(nc, ws, ip, key)
		abort := err != nil && rl.state == relayWaiting
		code, why := rl.abortCode, rl.abortWhy
		if s.closing {
			code, why = websocket.CloseGoingAway, "server shutting down"
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Debug("relay upgrade failed", "relay", rl.id, "ip", ip, "err", err)
		} else {
			// A fresh socket: the frame goes to an empty send buffer.
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, why), time.Now().Add(closeGrace))
			_ = ws.Close()
		}
		if abort {
			rl.abort(websocket.CloseGoingAway, "the other peer's relay connection failed")
		}
		return
	}
	splice := s.joinRelayLocked(rl, relayEnd{port: ws, nc: ws.NetConn(), ip: ip, key: key})
	s.mu.Unlock()
	if splice {
		rl.startPumps()
	} else {
		s.log.Debug("relay end waiting", "relay", rl.id, "ip", ip)
	}
}

// upgradeRelay upgrades a relay request and readies the socket.
func (s *Server) upgradeRelay(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	ws, err := s.relayUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	// http.Server's ReadTimeout is still set on the socket: the idle
	// timer bounds a relay instead.
	_ = ws.SetReadDeadline(time.Time{})
	ws.SetReadLimit(wire.MaxRelayMessage)
	return ws, nil
}

// releaseRelaySocketLocked gives back what a relay socket that will not
// join a relay holds: its relay slot of key, and its accept slot (nc's
// if the upgrade failed, else ws's).
func (s *Server) releaseRelaySocketLocked(nc net.Conn, ws *websocket.Conn, ip netip.Addr, key netip.Prefix) {
	if s.relay.perIP[key]--; s.relay.perIP[key] <= 0 {
		delete(s.relay.perIP, key)
	}
	if ws == nil {
		s.releaseUpgradeLocked(nc, ip, false)
	} else {
		s.releaseAcceptedLocked(ws.NetConn())
	}
}

// joinRelayLocked adds an end to a waiting relay and reports whether that
// made two: the relay is then spliced, and the caller starts its pumps.
func (s *Server) joinRelayLocked(rl *relay, e relayEnd) bool {
	rl.ends[rl.joined] = e
	rl.joined++
	if rl.joined < 2 {
		return false
	}
	rl.state = relaySpliced
	delete(s.relay.byToken, rl.token)
	s.setRatesLocked(rl)
	rl.pumps.Store(2)
	s.wg.Add(2)
	return true
}

// setRatesLocked gives a spliced relay its buckets: the two identities'
// (when issued here) and each local end's address's.
func (s *Server) setRatesLocked(rl *relay) {
	for i, e := range rl.ends {
		if rl.home {
			for _, id := range rl.peers {
				b := s.bucketLocked("id "+id, s.cfg.RelayRate)
				rl.buckets = append(rl.buckets, b)
				rl.rates[i] = append(rl.rates[i], b)
			}
		}
		if e.nc != nil {
			b := s.bucketLocked("ip "+e.key.String(), s.cfg.RelayRatePerIP)
			rl.buckets = append(rl.buckets, b)
			rl.rates[i] = append(rl.rates[i], b)
		}
	}
}

// startPumps starts a spliced relay's pumps and its idle timer.
func (rl *relay) startPumps() {
	if rl.expiry != nil {
		rl.expiry.Stop()
	}
	rl.last.Store(time.Now().UnixNano())
	rl.idle = time.AfterFunc(time.Hour, rl.checkIdle) // set before it can fire
	rl.idle.Reset(rl.s.cfg.RelayIdle)
	rl.s.log.Debug("relay spliced", "relay", rl.id, "ips", []netip.Addr{rl.ends[0].ip, rl.ends[1].ip}, "home", rl.home)
	go rl.pump(0)
	go rl.pump(1)
}

func (s *Server) refuseRelay(w http.ResponseWriter, status int, msg string) {
	s.mu.Lock()
	s.relay.refused++
	s.mu.Unlock()
	s.warn.log(slog.LevelInfo, "relay connection refused", "reason", msg)
	http.Error(w, msg, status)
}

// bucketLocked returns the shared bucket of key, counting one more user.
func (s *Server) bucketLocked(key string, rate int) *rateBucket {
	b := s.relay.buckets[key]
	if b == nil {
		b = &rateBucket{key: key, rate: float64(rate), burst: float64(max(rate, wire.MaxRelayMessage))}
		s.relay.buckets[key] = b
	}
	b.refs++
	return b
}

// expire ends a relay whose second end did not arrive within RelayTTL.
func (rl *relay) expire() {
	rl.abort(websocket.ClosePolicyViolation, "the other peer did not join the relay within "+rl.s.cfg.RelayTTL.String())
}

// abort ends a relay that is still waiting: its ends get a close frame
// with code and reason.
func (rl *relay) abort(code int, reason string) {
	s := rl.s
	s.mu.Lock()
	if rl.state != relayWaiting {
		s.mu.Unlock()
		return
	}
	rl.state = relayEnded
	rl.abortCode, rl.abortWhy = code, reason
	delete(s.relay.byToken, rl.token)
	ends := rl.ends[:rl.joined]
	s.mu.Unlock()
	rl.expiry.Stop()
	rl.stop(reason)
	for _, e := range ends {
		// The server never wrote to a waiting end: the frame goes to an
		// empty send buffer.
		_ = e.port.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeGrace))
		_ = e.port.Close()
	}
	rl.finish()
}

// stop records why the relay ends and closes the sockets of a spliced
// relay, which ends its pumps.
func (rl *relay) stop(reason string) {
	rl.stopOnce.Do(func() {
		rl.reason = reason
		close(rl.done)
		rl.s.mu.Lock()
		ends := rl.ends[:rl.joined]
		spliced := rl.state == relaySpliced
		rl.s.mu.Unlock()
		if spliced {
			for _, e := range ends {
				_ = e.port.Close()
			}
		}
	})
}

// checkIdle stops a relay that carried nothing for RelayIdle, or checks
// again when it would be.
func (rl *relay) checkIdle() {
	idle := time.Since(time.Unix(0, rl.last.Load()))
	select {
	case <-rl.done:
		return
	default:
	}
	if idle >= rl.s.cfg.RelayIdle {
		rl.stop("idle for " + rl.s.cfg.RelayIdle.String())
		return
	}
	rl.idle.Reset(rl.s.cfg.RelayIdle - idle)
}

// pump copies messages from end from to the other until either fails,
// then stops the relay; the last pump to end finishes it.
func (rl *relay) pump(from int) {
	defer rl.s.wg.Done()
	src, dst := rl.ends[from].port, rl.ends[1-from].port
	rr := &relayReader{rl: rl, from: from}
	code, reason := websocket.CloseNormalClosure, ""
	for reason == "" {
		if err := rr.throttle(); err != nil {
			reason = "stopped"
			break
		}
		mt, r, err := src.NextReader()
		if err != nil {
			code, reason = relayReadEnd(err)
			break
		}
		if mt != websocket.BinaryMessage {
			code, reason = websocket.CloseUnsupportedData, "a relay end sent a text message"
			_ = src.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "relay carries binary messages only"), time.Now().Add(closeGrace))
			break
		}
		w, err := dst.NextWriter(websocket.BinaryMessage)
		if err != nil {
			reason = "write to the other end: " + err.Error()
			break
		}
		rr.r = r
		_, err = io.Copy(w, rr)
		cerr := w.Close()
		switch {
		case err != nil:
			code, reason = relayReadEnd(err)
		case cerr != nil:
			reason = "write to the other end: " + cerr.Error()
		}
	}
	// Tell the other end why (best effort: the relay is closed anyway).
	_ = dst.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(closeGrace))
	rl.stop(reason)
	if rl.pumps.Add(-1) == 0 {
		rl.idle.Stop()
		rl.finish()
	}
}

// relayReadEnd is the close code to pass on, and a reason to log, for
// the error that ended reading an end.
func relayReadEnd(err error) (int, string) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		code := ce.Code
		if code == websocket.CloseNoStatusReceived || code == websocket.CloseAbnormalClosure {
			code = websocket.CloseGoingAway
		}
		return code, "an end closed"
	case errors.Is(err, websocket.ErrReadLimit):
		return websocket.CloseMessageTooBig, "an end sent a message over the limit"
	case errors.Is(err, net.ErrClosed):
		return websocket.CloseGoingAway, "stopped"
	}
	return websocket.CloseGoingAway, "copy: " + err.Error()
}

// finish gives back what a relay held and logs its end. It runs once:
// from abort, or from the last pump.
func (rl *relay) finish() {
	s := rl.s
	up, down := rl.bytes[0].Load(), rl.bytes[1].Load()
	s.mu.Lock()
	rs := &s.relay
	delete(rs.all, rl)
	if rl.home {
		delete(rs.byToken, rl.token)
		for _, id := range rl.peers {
			if rs.perID[id]--; rs.perID[id] <= 0 {
				delete(rs.perID, id)
			}
		}
		if rl.reserved {
			rs.active--
			for _, id := range rl.peers {
				if rs.activePerID[id]--; rs.activePerID[id] <= 0 {
					delete(rs.activePerID, id)
				}
			}
		}
	}
	for _, e := range rl.ends[:rl.joined] {
		if e.nc == nil {
			continue
		}
		if rs.perIP[e.key]--; rs.perIP[e.key] <= 0 {
			delete(rs.perIP, e.key)
		}
		s.releaseAcceptedLocked(e.nc)
	}
	for _, b := range rl.buckets {
		if b.refs--; b.refs <= 0 {
			delete(rs.buckets, b.key)
		}
	}
	rs.done++
	rs.bytes += up + down
	spliced := rl.state == relaySpliced
	s.mu.Unlock()
	s.log.Info("relay ended", "relay", rl.id, "a", rl.peers[0], "b", rl.peers[1], "spliced", spliced, "home", rl.home,
		"bytes_first_to_second", up, "bytes_second_to_first", down,
		"duration", time.Since(rl.start).Round(time.Millisecond), "reason", rl.reason)
}

// stopRelays ends every relay, at shutdown (Server.closing is set: no
// new one starts).
func (s *Server) stopRelays() {
	s.mu.Lock()
	rls := make([]*relay, 0, len(s.relay.all))
	for rl := range s.relay.all {
		rls = append(rls, rl)
	}
	s.mu.Unlock()
	for _, rl := range rls {
		rl.abort(websocket.CloseGoingAway, "server shutting down") // if waiting
		rl.stop("server shutting down")                            // if spliced
	}
}

// relayStatsLocked adds the relay counters to st.
func (s *Server) relayStatsLocked(st *Stats) {
	rs := &s.relay
	st.RelaysWaiting = len(rs.byToken)
	st.Relays = len(rs.all) - st.RelaysWaiting
	st.RelaysDone, st.RelaysRefused, st.RelayThrottled = rs.done, rs.refused, rs.throttled
	st.RelayBytes = rs.bytes
	for rl := range rs.all {
		st.RelayBytes += rl.bytes[0].Load() + rl.bytes[1].Load()
	}
}

// relayReader reads one message of a relay end for io.Copy, waiting
// while a rate bucket is in debt and spending what it read.
type relayReader struct {
	rl   *relay
	from int
	r    io.Reader
}

func (rr *relayReader) Read(p []byte) (int, error) {
	if err := rr.throttle(); err != nil {
		return 0, err
	}
	n, err := rr.r.Read(p)
	if n > 0 {
		rl := rr.rl
		now := rl.s.cfg.Clock.Now()
		for _, b := range rl.rates[rr.from] {
			b.spend(now, n)
		}
		rl.bytes[rr.from].Add(int64(n))
		rl.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// errRelayStopped ends a pump that was waiting for its rate.
var errRelayStopped = errors.New("relay stopped")

// throttle waits until no bucket of the end is in debt.
func (rr *relayReader) throttle() error {
	rl := rr.rl
	counted := false
	for {
		now := rl.s.cfg.Clock.Now()
		var wait time.Duration
		for _, b := range rl.rates[rr.from] {
			wait = max(wait, b.wait(now))
		}
		if wait <= 0 {
			return nil
		}
		if !counted {
			counted = true
			rl.s.mu.Lock()
			rl.s.relay.throttled++
			rl.s.mu.Unlock()
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-rl.done:
			t.Stop()
			return errRelayStopped
		}
	}
}

// rateBucket is a token bucket of bytes, shared by the relays of one
// client (an identity or an address). Bytes are spent after they are
// read, so it can go into debt by one read; the reader waits until the
// debt is paid.
type rateBucket struct {
	key         string // in relayLimits.buckets
	rate, burst float64
	refs        int // relays using it; guarded by Server.mu

	mu     sync.Mutex
	tokens float64
	at     time.Time // last refill; zero: full
}

// wait is how long from now until the bucket is out of debt.
func (b *rateBucket) wait(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// spend takes n bytes at now.
func (b *rateBucket) spend(now time.Time, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	b.tokens -= float64(n)
}

func (b *rateBucket) refillLocked(now time.Time) {
	switch {
	case b.at.IsZero():
		b.tokens = b.burst
	case now.After(b.at):
		b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	}
	b.at = now
}
