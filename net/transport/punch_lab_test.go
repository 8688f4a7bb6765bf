package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/internal/natlabtest"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// The NAT lab tests run this test binary as a helper process in the lab's
// hosts (TestPunchLabHelper), one per host, and drive it over its stdin
// and stdout, one command and one answer a line.

const envPunchHelper = "PARLANCE_PUNCH_HELPER"

// labHelper is a helper process in one lab host; id is its identity.
type labHelper struct {
	*natlabtest.Helper
	id string
}

func startLabHelper(t *testing.T, lab *natlabtest.Lab, host string) *labHelper {
	t.Helper()
	h := &labHelper{Helper: lab.StartHelper(t, host, "TestPunchLabHelper", envPunchHelper+"=1")}
	h.id = strings.TrimPrefix(h.Answer(t), "id ")
	return h
}

// punchResult is one side's answer to a punch command: "punched MICROS",
// then "flowed" or "noflow ERR"; or "failed MICROS ERR".
type punchResult struct {
	took    time.Duration
	punched bool
	flowed  bool
	err     string
}

func (h *labHelper) punchResult(t *testing.T) punchResult {
	t.Helper()
	f := strings.SplitN(h.Answer(t), " ", 3)
	us, _ := strconv.Atoi(f[1])
	r := punchResult{took: time.Duration(us) * time.Microsecond, punched: f[0] == "punched"}
	if !r.punched {
		r.err = f[2]
		return r
	}
	flow := h.Answer(t)
	r.flowed = flow == "flowed"
	r.err = strings.TrimPrefix(flow, "noflow ")
	return r
}

// labPunch has a (behind ra) and b (behind rb) punch to each other's
// public address at once, tries times, and returns both sides' results.
// Every try uses fresh ports (a closed connection leaves its address pair
// in TIME-WAIT).
func labPunch(t *testing.T, lab *natlabtest.Lab, tries int, window time.Duration, basePort int) (as, bs []punchResult) {
	a := startLabHelper(t, lab, "a")
	b := startLabHelper(t, lab, "b")
	for i := range tries {
		port := basePort + i
		a.Send(t, "punch %d %s:%d %s %d", port, natlabtest.PublicB, port, b.id, window.Milliseconds())
		b.Send(t, "punch %d %s:%d %s %d", port, natlabtest.PublicA, port, a.id, window.Milliseconds())
		as = append(as, a.punchResult(t))
		bs = append(bs, b.punchResult(t))
	}
	return as, bs
}

// TestPunchLabCone: behind two cone NATs that drop unsolicited packets,
// a and b connect directly in at least 19 of 20 tries, and a message
// flows each way (each acknowledged) on the punched connection. It logs
// the punch time beside a direct dial's in the same lab.
func TestPunchLabCone(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "cone")
	const tries = 20
	as, bs := labPunch(t, lab, tries, DefaultPunchWindow, 42000)
	var ok int
	var took []time.Duration
	for i := range tries {
		a, b := as[i], bs[i]
		if a.punched && b.punched && a.flowed && b.flowed {
			ok++
			took = append(took, max(a.took, b.took))
		} else {
			t.Logf("try %d: a %+v; b %+v", i, a, b)
		}
	}
	if ok < tries-1 {
		t.Fatalf("connected directly with messages both ways in %d of %d tries, want at least %d", ok, tries, tries-1)
	}
	base := labDirectDials(t, lab, tries)
	p50, p99 := natlabtest.Percentiles(took)
	b50, b99 := natlabtest.Percentiles(base)
	t.Logf("cone NATs: punched %d/%d; time to a punched TLS connection p50 %v p99 %v; direct dial+TLS from a to the server (no NAT in the way in) p50 %v p99 %v",
		ok, tries, p50, p99, b50, b99)
}

// labDirectDials measures a dial and TLS handshake from a to a node on
// the server (reachable, no punching needed): the baseline for punching.
func labDirectDials(t *testing.T, lab *natlabtest.Lab, n int) []time.Duration {
	srv := startLabHelper(t, lab, "server")
	a := startLabHelper(t, lab, "a")
	srv.Send(t, "listen 43000")
	if got := srv.Answer(t); got != "listening" {
		t.Fatalf("server helper: %s", got)
	}
	var took []time.Duration
	for range n {
		a.Send(t, "dial %s:43000 %s", natlabtest.ServerIP, srv.id)
		f := strings.SplitN(a.Answer(t), " ", 3)
		if f[0] != "dialed" {
			t.Fatalf("direct dial from a to the server: %s", strings.Join(f, " "))
		}
		us, _ := strconv.Atoi(f[1])
		took = append(took, time.Duration(us)*time.Microsecond)
	}
	return took
}

// TestPunchLabSymmetric: a NAT that picks a new port per connection
// defeats punching; Punch says so (ErrPunchFailed) within its window,
// on both sides, every time.
func TestPunchLabSymmetric(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "symmetric")
	const window = time.Second
	as, bs := labPunch(t, lab, 3, window, 42100)
	for i := range as {
		for side, r := range map[string]punchResult{"a": as[i], "b": bs[i]} {
			if r.punched {
				t.Errorf("try %d: %s punched through a symmetric NAT (%+v)", i, side, r)
			} else if !strings.Contains(r.err, ErrPunchFailed.Error()) || r.took > window+time.Second {
				t.Errorf("try %d: %s failed after %v with %q, want ErrPunchFailed within about %v", i, side, r.took, r.err, window)
			}
		}
	}
}

// TestPunchLabReject: routers that answer unsolicited SYNs with a reset
// make the tries fail at once: the reset to each side's SYN closes the
// mapping its NAT had just opened, so the other side's SYN only gets in
// if it arrives within that round trip. Punch tries again until its
// window ends, and either connects (with messages both ways) or fails
// cleanly within the window; a relay is the way through such routers.
func TestPunchLabReject(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "cone", "--reject")
	const tries = 3
	const window = time.Second
	as, bs := labPunch(t, lab, tries, window, 42200)
	punched := 0
	for i := range tries {
		for side, r := range map[string]punchResult{"a": as[i], "b": bs[i]} {
			switch {
			case r.punched && !r.flowed:
				t.Errorf("try %d: %s punched, but messages did not flow: %s", i, side, r.err)
			case !r.punched && (!strings.Contains(r.err, ErrPunchFailed.Error()) && !strings.Contains(r.err, "punch hello")) || r.took > window+DefaultHandshakeTimeout:
				t.Errorf("try %d: %s failed uncleanly after %v: %s", i, side, r.took, r.err)
			}
		}
		if as[i].punched && bs[i].punched {
			punched++
		}
	}
	t.Logf("rejecting routers: punched %d/%d", punched, tries)
}

// TestPunchLabHelper is the helper process (it does nothing in a normal
// test run).
func TestPunchLabHelper(t *testing.T) {
	if os.Getenv(envPunchHelper) == "" {
		t.Skip("the NAT lab tests' helper process")
	}
	id := newID(t)
	fmt.Printf("id %s\n", id.ID())
	var server *node
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "punch": // punch PORT PEER-ADDR PEER-ID WINDOW-MS
			ms, _ := strconv.Atoi(f[4])
			helperPunch(t, id, f[1], netip.MustParseAddrPort(f[2]), f[3], time.Duration(ms)*time.Millisecond)
		case "listen": // listen PORT: serve (acknowledging) until the helper ends
			server = newHelperNode(t, id, f[1])
			go func() {
				for in := range server.got {
					if in.Reply != nil && in.Message.ID != "" {
						in.Reply.Reply(wire.Control{Type: wire.ControlAck, IDs: []string{in.Message.ID}})
					}
				}
			}()
			fmt.Println("listening")
		case "dial": // dial ADDR PEER-ID: time a first Send (dial, TLS, write)
			n := newHelperNode(t, id, "0")
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			err := n.Send(ctx, Dest{Addr: netip.MustParseAddrPort(f[1]), Identity: f[2]}, msg("a", "direct"))
			cancel()
			if err != nil {
				fmt.Printf("failed %d %v\n", time.Since(start).Microseconds(), err)
			} else {
				fmt.Printf("dialed %d\n", time.Since(start).Microseconds())
			}
			n.Close()
		}
	}
}

// newHelperNode is newNode on all addresses and a given port, logging
// to stderr (stdout carries the answers).
func newHelperNode(t *testing.T, id *identity.Identity, port string) *node {
	tr, err := Listen(Config{Identity: id, ListenAddr: ":" + port})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Transport: tr, id: id, got: make(chan Inbound, 100)}
	n.serve(t)
	n.serving(t)
	return n
}

// helperPunch punches to the peer, then sends it a message and waits for
// the peer's message and the acknowledgement of its own.
func helperPunch(t *testing.T, id *identity.Identity, port string, peer netip.AddrPort, peerID string, window time.Duration) {
	n := newHelperNode(t, id, port)
	defer n.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), window)
	err := n.Punch(ctx, Dest{Addr: peer, Identity: peerID})
	cancel()
	took := time.Since(start)
	if err != nil {
		fmt.Printf("failed %d %v\n", took.Microseconds(), err)
		return
	}
	fmt.Printf("punched %d\n", took.Microseconds())
	fmt.Println(helperFlow(n, peer, peerID))
}

func helperFlow(n *node, peer netip.AddrPort, peerID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	m := msg("punched", "hello through the NAT")
	if err := n.Send(ctx, Dest{Addr: peer, Identity: peerID}, m); err != nil {
		return "noflow " + err.Error()
	}
	var gotMessage, gotAck bool
	for !gotMessage || !gotAck {
		select {
		case in := <-n.got:
			switch {
			case in.Identity != peerID:
				return "noflow from " + in.Identity
			case in.Control != nil && slices.Contains(in.Control.IDs, m.ID):
				gotAck = true
			case in.Message.ID != "":
				gotMessage = true
				if err := in.Reply.Reply(wire.Control{Type: wire.ControlAck, IDs: []string{in.Message.ID}}); err != nil {
					return "noflow " + err.Error()
				}
			}
		case <-ctx.Done():
			return fmt.Sprintf("noflow message %v, ack %v: %v", gotMessage, gotAck, errors.New("timed out"))
		}
	}
	return "flowed"
}
