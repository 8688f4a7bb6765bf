package lan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
)

// iface is a network interface and its first IPv4 address (invalid if it
// has none).
type iface struct {
	net.Interface
	Addr netip.Addr
}

// systemInterfaces lists the machine's interfaces with their IPv4
// addresses.
func systemInterfaces() ([]iface, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]iface, 0, len(ifis))
	for _, ifi := range ifis {
		it := iface{Interface: ifi}
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				it.Addr = p.Addr()
				break
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// chooseInterfaces picks the interfaces to join and send on: the one
// named, or (name "") every up, multicast-capable interface with an IPv4
// address. A named interface is taken even without the MULTICAST flag
// (loopback lacks it, yet multicast works on it when pinned).
func chooseInterfaces(all []iface, name string) ([]iface, error) {
	if name != "" {
		for _, it := range all {
			if it.Name != name {
				continue
			}
			if it.Flags&net.FlagUp == 0 {
				return nil, fmt.Errorf("interface %q is down", name)
			}
			return []iface{it}, nil
		}
		return nil, fmt.Errorf("interface %q not found; available: %s", name, interfaceNames(all))
	}
	var out []iface
	for _, it := range all {
		if it.Flags&net.FlagUp != 0 && it.Flags&net.FlagMulticast != 0 && it.Addr.IsValid() {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no up, multicast-capable interface with an IPv4 address (available: %s); name one with --interface NAME", interfaceNames(all))
	}
	return out, nil
}

func interfaceNames(all []iface) string {
	if len(all) == 0 {
		return "none"
	}
	names := make([]string, len(all))
	for i, it := range all {
		names[i] = it.Name
	}
	return strings.Join(names, ", ")
}

// openSockets opens the receive socket, joined to the group on every
// chosen interface, and one sender per interface.
func openSockets(cfg Config) (receiver, []sender, error) {
	all, err := systemInterfaces()
	if err != nil {
		return nil, nil, err
	}
	ifaces, err := chooseInterfaces(all, cfg.Interface)
	if err != nil {
		return nil, nil, err
	}
	log := cfg.Logger.With("component", "lan")

	recv, err := listenGroup(cfg.Group, cfg.Port)
	if err != nil {
		return nil, nil, err
	}
	var senders []sender
	fail := func(err error) (receiver, []sender, error) {
		_ = recv.Close()
		for _, s := range senders {
			_ = s.Close()
		}
		return nil, nil, err
	}
	pinned := cfg.Interface != ""
	for _, it := range ifaces {
		if err := recv.join(it, cfg.Group); err != nil {
			if pinned {
				return fail(err)
			}
			log.Warn("skipping interface", "interface", it.Name, "err", err)
			continue
		}
		s, err := newUDPSender(it, cfg.Group, cfg.Port)
		if err != nil {
			if pinned {
				return fail(err)
			}
			log.Warn("skipping interface", "interface", it.Name, "err", err)
			continue
		}
		if !it.Addr.IsValid() {
			log.Warn("interface has no IPv4 address; peers may see announces from another address", "interface", it.Name)
		}
		log.Debug("multicast discovery on interface", "interface", it.Name, "addr", it.Addr, "group", cfg.Group, "port", cfg.Port)
		senders = append(senders, s)
	}
	if len(senders) == 0 {
		return fail(fmt.Errorf("could not join group %v on any of %s; name one with --interface NAME", cfg.Group, interfaceNames(ifaces)))
	}
	return recv, senders, nil
}

// udpReceiver is the socket bound to the group's port.
type udpReceiver struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
}

// listenGroup binds the group's port with SO_REUSEADDR and SO_REUSEPORT,
// so that any number of instances on one machine share it and each hears
// every datagram.
func listenGroup(group netip.Addr, port uint16) (*udpReceiver, error) {
	host := netip.IPv4Unspecified()
	if bindToGroup {
		// Only datagrams sent to the group, not unicast to the port.
		host = group
	}
	addr := netip.AddrPortFrom(host, port).String()
	lc := net.ListenConfig{Control: controlReuse}
	c, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp4 %s: %w (is another program holding the port without SO_REUSEPORT?)", addr, err)
	}
	conn := c.(*net.UDPConn)
	return &udpReceiver{conn: conn, pc: ipv4.NewPacketConn(conn)}, nil
}

func (r *udpReceiver) join(it iface, group netip.Addr) error {
	if err := r.pc.JoinGroup(&it.Interface, &net.UDPAddr{IP: group.AsSlice()}); err != nil {
		return fmt.Errorf("join group %v on %s: %w (does the interface do multicast? name another one with --interface NAME)", group, it.Name, err)
	}
	return nil
}

func (r *udpReceiver) Receive(b []byte) (int, netip.Addr, error) {
	n, src, err := r.conn.ReadFromUDPAddrPort(b)
	return n, src.Addr().Unmap(), err
}

func (r *udpReceiver) Close() error { return r.conn.Close() }

// udpSender sends to the group out of one interface, from that
// interface's IPv4 address: a peer's address is the source IP of its
// announces, and left to itself the kernel may pick another interface's
// address (or 0.0.0.0) as the source.
type udpSender struct {
	name string
	conn *net.UDPConn
	src  netip.Addr // the interface's address, or invalid
	dst  netip.AddrPort
}

func newUDPSender(it iface, group netip.Addr, port uint16) (*udpSender, error) {
	src := netip.IPv4Unspecified()
	if it.Addr.IsValid() {
		src = it.Addr
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
	if err != nil {
		return nil, fmt.Errorf("open sender on %s (%v): %w", it.Name, src, err)
	}
	pc := ipv4.NewPacketConn(conn)
	err = errors.Join(
		pc.SetMulticastInterface(&it.Interface),
		pc.SetMulticastTTL(1),
		pc.SetMulticastLoopback(true),
	)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("set multicast options on %s: %w", it.Name, err)
	}
	return &udpSender{name: it.Name, conn: conn, src: it.Addr, dst: netip.AddrPortFrom(group, port)}, nil
}

func (s *udpSender) Send(b []byte, deadline time.Time) error {
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := s.conn.WriteToUDPAddrPort(b, s.dst)
	return err
}

func (s *udpSender) Close() error   { return s.conn.Close() }
func (s *udpSender) String() string { return s.name }

func (s *udpSender) Source() netip.Addr { return s.src }

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
