package bootstrap

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// # Relays across servers (Config.Bus)
//
// A token starts with its issuing server's relay tag (8 characters: 6
// bytes of a hash of the server id). An end that presents it to another
// server of the cluster (its peer is registered there, or a load
// balancer sent it there) is forwarded: that server asks the token's
// server, its home, on the home's join subject; the home claims the
// token for it as for a local end and answers on the end's own subject;
// then the forwarding server upgrades the socket and splices it with a
// busPort, a stream of the end's messages over the bus, which the home
// splices with the other end. The home holds the token, the per-identity
// limits and rates; each server holds the per-address limits of the
// sockets it accepted.
//
// A busPort sends its messages numbered and lets at most busWindow of
// them wait for the other side to take them (acknowledgements), so a
// slow end pushes back across the bus as over TCP and core NATS, which
// drops what a slow subscriber cannot take, never has to drop. A gap in
// the numbers (the bus lost a message, e.g. while it reconnected) ends
// the relay: the peers' TLS would fail on it anyway. An end whose other
// side takes nothing for WriteWait fails.

// Subjects of relays across servers, under Config.BusPrefix.
const (
	subjectRelayJoin = ".relay."    // + the home's relay tag: ends that arrived at another server
	subjectRelayEnd  = ".relayend." // + a port id: the messages to one busPort
)

const (
	// relayTagLen is the length of a token's home tag.
	relayTagLen = 8
	// relayJoinWait bounds the wait for the home's answer.
	relayJoinWait = 5 * time.Second
	// busWindow is how many messages a busPort sends before it waits
	// for the other side to take some.
	busWindow = 32
)

// relayTagOf is the relay tag of the server with id.
func relayTagOf(id string) (b [6]byte, tag string) {
	sum := sha256.Sum256([]byte("parlance-relay-home\x00" + id))
	copy(b[:], sum[:6])
	return b, base64.RawURLEncoding.EncodeToString(b[:])
}

// relayJoin asks a token's home to take an end that arrived elsewhere.
type relayJoin struct {
	Token string `json:"token"`
	Reply string `json:"reply"` // the forwarding server's busPort subject
}

// relayAccept is the home's answer: its busPort subject for the end (and
// the relay's peers, for the log), or why not.
type relayAccept struct {
	Subject string    `json:"subject,omitempty"`
	Peers   [2]string `json:"peers"`
	Refused string    `json:"refused,omitempty"`
	Busy    bool      `json:"busy,omitempty"` // refused by a limit: try again later
}

// Kinds of busPort messages (their first byte).
const (
	portData   = 'd' // + uint64 number + payload
	portAck    = 'a' // + uint64: how many data messages were taken
	portClose  = 'c' // + uint16 close code
	portAccept = 'j' // + relayAccept as JSON: the home's answer
)

// startRelayCluster subscribes to this server's join subject.
func (s *Server) startRelayCluster(ctx context.Context) error {
	if s.cfg.NoRelay {
		return nil
	}
	if err := s.cfg.Bus.Subscribe(ctx, s.cfg.BusPrefix+subjectRelayJoin+s.relayTag, s.onRelayJoin); err != nil {
		return fmt.Errorf("subscribe to relay joins: %w", err)
	}
	return nil
}

// forwardRelay serves a relay socket whose token is another server's:
// it asks the home to take the end, then splices the socket with a
// busPort to the home. The socket's relay slot of key is claimed.
func (s *Server) forwardRelay(w http.ResponseWriter, r *http.Request, token string, nc net.Conn, ip netip.Addr, key netip.Prefix) {
	fail := func(status int, msg string) {
		s.mu.Lock()
		s.releaseRelaySocketLocked(nc, nil, ip, key)
		s.mu.Unlock()
		s.refuseRelay(w, status, msg)
	}
	port, err := s.newBusPort("")
	if err != nil {
		s.warn.log(slog.LevelWarn, "relay over the cluster bus failed", "err", err)
		fail(http.StatusServiceUnavailable, "the relay's server cannot be reached, try again")
		return
	}
	join, _ := json.Marshal(relayJoin{Token: token, Reply: port.in})
	if err := s.cfg.Bus.Publish(s.cfg.BusPrefix+subjectRelayJoin+token[:relayTagLen], join); err != nil {
		_ = port.Close()
		s.warn.log(slog.LevelWarn, "relay over the cluster bus failed", "err", err)
		fail(http.StatusServiceUnavailable, "the relay's server cannot be reached, try again")
		return
	}
	t := time.NewTimer(relayJoinWait)
	var acc relayAccept
	select {
	case acc = <-port.accepted:
	case <-t.C:
		acc.Refused = "unknown, expired or used relay token (no server of the cluster holds it)"
	case <-r.Context().Done():
		acc.Refused = "request ended"
	}
	t.Stop()
	if acc.Refused != "" {
		_ = port.Close()
		status := http.StatusForbidden
		if acc.Busy {
			status = http.StatusServiceUnavailable
		}
		fail(status, acc.Refused)
		return
	}
	ws, err := s.upgradeRelay(w, r)
	rl := &relay{s: s, id: relayID(token), peers: acc.Peers, start: time.Now(), done: make(chan struct{}), state: relaySpliced}
	s.mu.Lock()
	if err != nil || s.closing {
		s.releaseRelaySocketLocked(nc, ws, ip, key)
		s.mu.Unlock()
		_ = port.Close()
		if ws != nil {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(closeGrace))
			_ = ws.Close()
		}
		return
	}
	rl.ends = [2]relayEnd{{port: ws, nc: ws.NetConn(), ip: ip, key: key}, {port: port}}
	rl.joined = 2
	s.relay.all[rl] = struct{}{}
	s.setRatesLocked(rl)
	rl.pumps.Store(2)
	s.wg.Add(2)
	s.mu.Unlock()
	rl.startPumps()
}

// onRelayJoin takes an end of a relay issued here that arrived at
// another server.
func (s *Server) onRelayJoin(data []byte) {
	var m relayJoin
	err := json.Unmarshal(data, &m)
	if err == nil {
		err = wire.ValidateRelayToken(m.Token)
	}
	if err == nil && (!strings.HasPrefix(m.Reply, s.cfg.BusPrefix+subjectRelayEnd) || len(m.Reply) > 256) {
		err = errors.New("bad reply subject")
	}
	if err != nil {
		s.warn.log(slog.LevelWarn, "unreadable relay join from the cluster", "err", err)
		return
	}
	port, err := s.newBusPort(m.Reply)
	if err != nil {
		s.warn.log(slog.LevelWarn, "relay over the cluster bus failed", "err", err)
		return
	}
	s.mu.Lock()
	rl := s.relay.byToken[m.Token]
	why, limited := "", false
	switch {
	case s.closing || rl == nil || rl.state != relayWaiting || rl.claimed >= 2:
		why = "unknown, expired or used relay token"
	case rl.claimed == 1:
		why = s.reserveSpliceLocked(rl)
		limited = why != ""
	}
	if why != "" {
		s.relay.refused++
		port.answer(relayAccept{Refused: why, Busy: limited})
		s.mu.Unlock()
		port.closeQuietly()
		if limited {
			rl.abort(websocket.CloseTryAgainLater, why)
		}
		return
	}
	rl.claimed++
	splice := s.joinRelayLocked(rl, relayEnd{port: port})
	// Under the lock: the answer goes out before anything a pump sends.
	port.answer(relayAccept{Subject: port.in, Peers: rl.peers})
	s.mu.Unlock()
	if splice {
		rl.startPumps()
	} else {
		s.log.Debug("relay end waiting (on another server)", "relay", rl.id)
	}
}

// busPort is one end of a relay carried over the cluster bus: what it
// sends goes to the other server's busPort (out), what that one sends
// arrives on in. It implements relayPort.
type busPort struct {
	s      *Server
	in     string
	cancel context.CancelFunc // ends the subscription to in

	accepted chan relayAccept // the home's answer (forwarding side)
	readable chan struct{}    // capacity 1: inbox or err changed
	writable chan struct{}    // capacity 1: acked or err changed

	mu        sync.Mutex
	out       string   // "" until the home answered
	inbox     [][]byte // data messages not yet taken
	next      uint64   // number of the next data message expected
	taken     uint64   // data messages taken by the reader
	ackedOut  uint64   // taken, when the last ack went out
	sent      uint64   // data messages sent
	acked     uint64   // data messages the other side took
	err       error    // the other side closed, or the stream broke
	closed    bool     // closed here
	sentClose bool
}

// newBusPort subscribes a new port; out is the other side's subject, or
// "" until the home's answer names it.
func (s *Server) newBusPort(out string) (*busPort, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	p := &busPort{s: s, in: s.cfg.BusPrefix + subjectRelayEnd + hex.EncodeToString(id[:]), out: out,
		accepted: make(chan relayAccept, 1), readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if err := s.cfg.Bus.Subscribe(ctx, p.in, p.receive); err != nil {
		cancel()
		return nil, err
	}
	return p, nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// receive handles a message from the other side (on the bus's
// goroutine for this subscription, one at a time).
func (p *busPort) receive(data []byte) {
	if len(data) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch data[0] {
	case portData:
		if len(data) < 9 || p.err != nil || p.closed {
			return
		}
		switch n := binary.BigEndian.Uint64(data[1:9]); {
		case n != p.next:
			p.failLocked(errors.New("the cluster bus lost a relayed message"))
		case len(p.inbox) >= 2*busWindow:
			p.failLocked(errors.New("the other server sent past its window"))
		case len(data)-9 > wire.MaxRelayMessage:
			p.failLocked(websocket.ErrReadLimit)
		default:
			p.next++
			p.inbox = append(p.inbox, bytes.Clone(data[9:]))
			signal(p.readable)
		}
	case portAck:
		if len(data) == 9 {
			if n := binary.BigEndian.Uint64(data[1:]); n > p.acked && n <= p.sent {
				p.acked = n
				signal(p.writable)
			}
		}
	case portClose:
		code := websocket.CloseGoingAway
		if len(data) == 3 {
			code = int(binary.BigEndian.Uint16(data[1:]))
		}
		p.failLocked(&websocket.CloseError{Code: code})
	case portAccept:
		var m relayAccept
		if json.Unmarshal(data[1:], &m) != nil {
			return
		}
		if m.Refused == "" {
			if p.out != "" || !strings.HasPrefix(m.Subject, p.s.cfg.BusPrefix+subjectRelayEnd) {
				return
			}
			p.out = m.Subject
		}
		select {
		case p.accepted <- m:
		default:
		}
	}
}

func (p *busPort) failLocked(err error) {
	if p.err == nil {
		p.err = err
	}
	signal(p.readable)
	signal(p.writable)
}

// answer sends the home's answer to the forwarding server.
func (p *busPort) answer(m relayAccept) {
	b, _ := json.Marshal(m)
	p.publish(append([]byte{portAccept}, b...))
}

func (p *busPort) publish(msg []byte) error {
	p.mu.Lock()
	out := p.out
	p.mu.Unlock()
	if out == "" {
		return errors.New("relay: the other server's end is not known yet")
	}
	return p.s.cfg.Bus.Publish(out, msg)
}

// NextReader returns the next message from the other side.
func (p *busPort) NextReader() (int, io.Reader, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return 0, nil, net.ErrClosed
		}
		if len(p.inbox) > 0 {
			b := p.inbox[0]
			p.inbox[0] = nil
			p.inbox = p.inbox[1:]
			p.taken++
			var ack []byte
			if p.taken-p.ackedOut >= busWindow/4 || len(p.inbox) == 0 {
				p.ackedOut = p.taken
				ack = binary.BigEndian.AppendUint64([]byte{portAck}, p.taken)
			}
			p.mu.Unlock()
			if ack != nil {
				_ = p.publish(ack)
			}
			return websocket.BinaryMessage, bytes.NewReader(b), nil
		}
		if err := p.err; err != nil {
			p.mu.Unlock()
			return 0, nil, err
		}
		p.mu.Unlock()
		<-p.readable
	}
}

// NextWriter returns a writer of one message, sent when it is closed.
func (p *busPort) NextWriter(int) (io.WriteCloser, error) { return &busWriter{p: p}, nil }

type busWriter struct {
	p   *busPort
	buf []byte
}

func (w *busWriter) Write(b []byte) (int, error) {
	if len(w.buf)+len(b) > wire.MaxRelayMessage {
		return 0, websocket.ErrReadLimit
	}
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// Close sends the message once the window lets it, waiting at most
// WriteWait.
func (w *busWriter) Close() error {
	p := w.p
	var t *time.Timer
	for {
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			return net.ErrClosed
		case p.err != nil:
			err := p.err
			p.mu.Unlock()
			return err
		case p.sent-p.acked < busWindow:
			n := p.sent
			p.sent++
			p.mu.Unlock()
			if t != nil {
				t.Stop()
			}
			msg := make([]byte, 0, 9+len(w.buf))
			msg = append(binary.BigEndian.AppendUint64(append(msg, portData), n), w.buf...)
			return p.publish(msg)
		}
		p.mu.Unlock()
		if t == nil {
			t = time.NewTimer(p.s.cfg.WriteWait)
		}
		select {
		case <-p.writable:
		case <-t.C:
			return errors.New("relay: the other server took nothing for " + p.s.cfg.WriteWait.String())
		}
	}
}

// WriteControl sends a close (other control messages mean nothing on
// the bus).
func (p *busPort) WriteControl(mt int, data []byte, _ time.Time) error {
	if mt != websocket.CloseMessage {
		return nil
	}
	code := websocket.CloseNormalClosure
	if len(data) >= 2 {
		code = int(binary.BigEndian.Uint16(data))
	}
	return p.sendClose(code)
}

func (p *busPort) sendClose(code int) error {
	p.mu.Lock()
	if p.sentClose || p.out == "" {
		p.mu.Unlock()
		return nil
	}
	p.sentClose = true
	p.mu.Unlock()
	return p.publish(binary.BigEndian.AppendUint16([]byte{portClose}, uint16(code)))
}

// Close tells the other side (unless a close went already) and ends the
// subscription; blocked reads and writes return.
func (p *busPort) Close() error {
	_ = p.sendClose(websocket.CloseGoingAway)
	p.closeQuietly()
	return nil
}

// closeQuietly closes without telling the other side.
func (p *busPort) closeQuietly() {
	p.mu.Lock()
	p.closed = true
	signal(p.readable)
	signal(p.writable)
	p.mu.Unlock()
	p.cancel()
}
