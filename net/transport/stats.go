package transport

import "sync/atomic"

// Stats counts what a transport has done since Listen. It is for tests,
// benchmarks and diagnostics.
type Stats struct {
	// Outgoing.
	Dials          uint64 // connections established (TCP, plus TLS to keyed peers)
	DialErrors     uint64 // failed connects and handshakes, key mismatches included
	KeyMismatches  uint64 // handshakes aborted because the peer proved another key
	Redials        uint64 // writes on a kept connection that failed and were retried on a new one
	Sent           uint64 // message lines written
	Controls       uint64 // control frames read on outgoing connections and handed to the handler
	PlainRefused   uint64 // Sends refused under RequireEncryption
	OutgoingClosed uint64 // kept connections ended (idle, peer closed, write error, Close)

	// Inbound.
	Accepted       uint64 // connections admitted
	TLSConns       uint64 // inbound TLS handshakes completed
	PlainConns     uint64 // inbound plaintext connections served
	Received       uint64 // messages handed to the handler
	Dropped        uint64 // lines that did not parse
	OverIPLimit    uint64 // connections refused because MaxInboundPerIP from their IP were open
	Evicted        uint64 // connections closed to make room for a new one (MaxInbound were open)
	BadFirstByte   uint64 // connections closed for a first byte that is neither TLS nor '{'
	PlainRejected  uint64 // plaintext connections closed under RequireEncryption (or TLS to a node without identity)
	HandshakeFails uint64 // inbound TLS handshakes that failed or timed out
	LinesTooLong   uint64 // connections closed for a line over wire.MaxLine
	IdleClosed     uint64 // connections closed after IdleTimeout without a message
	LineTimeouts   uint64 // connections closed for a line unfinished LineTimeout after its first byte

	// Now.
	OpenInbound  int // inbound connections open
	OpenOutgoing int // kept outgoing connections open
}

type counters struct {
	dials, dialErrors, keyMismatches, redials, sent, plainRefused, outgoingClosed atomic.Uint64
	accepted, tlsConns, plainConns, received, dropped, overIPLimit, evicted       atomic.Uint64
	badFirstByte, plainRejected, handshakeFails, linesTooLong, idleClosed         atomic.Uint64
	lineTimeouts, controls                                                        atomic.Uint64
}

// Stats returns a snapshot of the transport's counters.
func (t *Transport) Stats() Stats {
	c := &t.stats
	s := Stats{
		Dials:          c.dials.Load(),
		DialErrors:     c.dialErrors.Load(),
		KeyMismatches:  c.keyMismatches.Load(),
		Redials:        c.redials.Load(),
		Sent:           c.sent.Load(),
		Controls:       c.controls.Load(),
		PlainRefused:   c.plainRefused.Load(),
		OutgoingClosed: c.outgoingClosed.Load(),
		Accepted:       c.accepted.Load(),
		TLSConns:       c.tlsConns.Load(),
		PlainConns:     c.plainConns.Load(),
		Received:       c.received.Load(),
		Dropped:        c.dropped.Load(),
		OverIPLimit:    c.overIPLimit.Load(),
		Evicted:        c.evicted.Load(),
		BadFirstByte:   c.badFirstByte.Load(),
		PlainRejected:  c.plainRejected.Load(),
		HandshakeFails: c.handshakeFails.Load(),
		LinesTooLong:   c.linesTooLong.Load(),
		IdleClosed:     c.idleClosed.Load(),
		LineTimeouts:   c.lineTimeouts.Load(),
	}
	t.mu.Lock()
	s.OpenInbound = len(t.inbound)
	s.OpenOutgoing = len(t.outgoing)
	t.mu.Unlock()
	return s
}
