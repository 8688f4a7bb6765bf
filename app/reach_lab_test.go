package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/internal/natlabtest"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// The reach lab tests run real Nodes (transport, bootstrap client,
// reach) in the NAT lab's hosts, as helper processes of this test binary
// (TestReachLabHelper) driven one command a line, and a real bootstrap
// server on the lab's internet.

const (
	envReachHelper = "PARLANCE_REACH_HELPER" // "server" or "peer"
	envReachURL    = "PARLANCE_REACH_URL"
	labServerURL   = "ws://" + natlabtest.ServerIP + ":8080"
)

// reachHelper is a helper process in one lab host.
type reachHelper struct{ *natlabtest.Helper }

func startReachHelper(t testing.TB, lab *natlabtest.Lab, host, role string) *reachHelper {
	t.Helper()
	h := &reachHelper{lab.StartHelper(t, host, "TestReachLabHelper", envReachHelper+"="+role, envReachURL+"="+labServerURL)}
	if got := h.Ask(t, "hello"); got != "ready" {
		t.Fatalf("helper %s: %q", host, got)
	}
	return h
}

// node starts a fresh node (new key, new port) in the helper and returns
// its identity once it is online on the server.
func (h *reachHelper) node(t testing.TB, nick string, headStart time.Duration) string {
	t.Helper()
	got := h.Ask(t, "node %s %d", nick, headStart.Milliseconds())
	id, ok := strings.CutPrefix(got, "id ")
	if !ok {
		t.Fatalf("helper %s: node: %s", h.Host, got)
	}
	return id
}

// sendResult is the answer to a send: how the message went and how long
// it took from Send to a connection and to the acknowledgement.
type sendResult struct {
	outcome   string // "punched", "relayed", "direct" or "queued"
	connected time.Duration
	acked     time.Duration
}

func (h *reachHelper) send(t testing.TB, to, text string, timeout time.Duration) sendResult {
	t.Helper()
	f := strings.Fields(h.Ask(t, "send %s %s %d", to, text, timeout.Milliseconds()))
	if len(f) != 3 {
		t.Fatalf("helper %s: send: %v", h.Host, f)
	}
	c, _ := strconv.Atoi(f[1])
	a, _ := strconv.Atoi(f[2])
	return sendResult{outcome: f[0], connected: time.Duration(c) * time.Microsecond, acked: time.Duration(a) * time.Microsecond}
}

// reachLabs are the labs the reach test runs in, and what each try may
// end as: behind cone NATs punched; where punching cannot work (a
// symmetric NAT on either side) or may not (routers that answer with
// resets), relayed through the bootstrap server, within within of the
// first send.
var reachLabs = []struct {
	name    string
	options []string
	tries   int
	minOK   int      // tries that must end in one of want
	want    []string // outcomes a try may end in
	within  time.Duration
}{
	{"cone", []string{"--nat", "cone"}, 20, 19, []string{"punched"}, 3 * time.Second},
	{"cone-reject", []string{"--nat", "cone", "--reject"}, 3, 3, []string{"punched", "relayed"}, 3 * time.Second},
	{"symmetric", []string{"--nat", "symmetric"}, 20, 20, []string{"relayed"}, 3 * time.Second},
	{"one-side-symmetric", []string{"--nat", "cone", "--nat-b", "symmetric"}, 3, 3, []string{"relayed"}, 3 * time.Second},
}

// TestReachLab: alice (behind ra) sends to bob (behind rb), both fresh
// nodes every try; the server arranges the connection. Behind cone NATs
// they connect directly, punched; behind a symmetric NAT through the
// relay; messages flow both ways on the connection the first one made.
func TestReachLab(t *testing.T) {
	for _, lc := range reachLabs {
		t.Run(lc.name, func(t *testing.T) {
			lab := natlabtest.Start(t, lc.options...)
			startReachHelper(t, lab, "server", "server")
			a := startReachHelper(t, lab, "a", "peer")
			b := startReachHelper(t, lab, "b", "peer")
			ok := 0
			var took []time.Duration
			for i := range lc.tries {
				ida := a.node(t, fmt.Sprintf("alice%d", i), app.DefaultHeadStart)
				idb := b.node(t, fmt.Sprintf("bob%d", i), app.DefaultHeadStart)
				if got := a.Ask(t, "wait %s", idb); got != "seen" {
					t.Fatalf("try %d: alice does not see bob: %s", i, got)
				}
				r := a.send(t, idb, fmt.Sprintf("hello%d", i), 3500*time.Millisecond)
				if r.outcome != "queued" {
					if got := b.Ask(t, "recv hello%d", i); got != "got" {
						t.Fatalf("try %d: bob: %s", i, got)
					}
					// bob answers on the connection alice's message made.
					back := b.send(t, ida, fmt.Sprintf("back%d", i), 4*time.Second)
					if back.outcome != r.outcome {
						t.Errorf("try %d: alice→bob %s, bob→alice %s", i, r.outcome, back.outcome)
						continue
					}
					took = append(took, r.connected)
				}
				if r.outcome != "queued" && r.connected > lc.within {
					t.Errorf("try %d: %s after %v, want within %v of the first send", i, r.outcome, r.connected, lc.within)
				}
				if slices.Contains(lc.want, r.outcome) {
					ok++
				} else {
					t.Logf("try %d: %+v", i, r)
				}
			}
			if ok < lc.minOK {
				t.Fatalf("%d of %d tries ended in %v, want at least %d", ok, lc.tries, lc.want, lc.minOK)
			}
			p50, p99 := natlabtest.Percentiles(took)
			t.Logf("%s: %d/%d tries in %v; first send to connected p50 %v p99 %v", lc.name, ok, lc.tries, lc.want, p50, p99)

			// A file from alice to bob, fresh nodes with no connection
			// yet: its streams (the offer, then bob's download) are
			// punched or relayed like the messages.
			a.node(t, "alice-file", app.DefaultHeadStart)
			idb := b.node(t, "bob-file", app.DefaultHeadStart)
			if got := a.Ask(t, "wait %s", idb); got != "seen" {
				t.Fatalf("file: alice does not see bob: %s", got)
			}
			offered := a.Ask(t, "sendfile %s %d", idb, labFileSize)
			sum, ok2 := strings.CutPrefix(offered, "offered ")
			if !ok2 {
				t.Fatalf("file: alice: %s", offered)
			}
			got := b.Ask(t, "getfile %s", sum)
			us, done := strings.CutPrefix(got, "done ")
			if !done {
				t.Fatalf("file: bob: %s", got)
			}
			t.Logf("%s: a %d KiB file offered, accepted and received %s µs after the accept", lc.name, labFileSize>>10, us)
		})
	}
}

// BenchmarkReachLab measures, behind cone NATs, the time from both peers
// being online to a punched connection when alice sends to bob: the
// connect to the server, its offers to both, the punch and TLS (with no
// head start for a direct dial, and with the default one), beside a
// direct dial and TLS from alice to a node on the lab's internet in the
// same run. Fresh nodes every try.
//
//	go test -run '^$' -bench ReachLab -benchtime 1x ./app
func BenchmarkReachLab(b *testing.B) {
	lab := natlabtest.Start(b, "--nat", "cone")
	const tries = 20
	startReachHelper(b, lab, "server", "server")
	srv := startReachHelper(b, lab, "server", "peer")
	a := startReachHelper(b, lab, "a", "peer")
	bob := startReachHelper(b, lab, "b", "peer")
	measure := func(name, key string, to *reachHelper, want string, headStart time.Duration) {
		var took []time.Duration
		for i := range tries {
			a.node(b, fmt.Sprintf("alice%d", i), headStart)
			id := to.node(b, fmt.Sprintf("peer%d", i), headStart)
			if got := a.Ask(b, "wait %s", id); got != "seen" {
				b.Fatalf("%s: alice does not see the peer: %s", name, got)
			}
			r := a.send(b, id, fmt.Sprintf("m%d", i), 5*time.Second)
			if r.outcome != want {
				b.Fatalf("%s try %d: %+v, want %s", name, i, r, want)
			}
			took = append(took, r.connected)
		}
		p50, p99 := natlabtest.Percentiles(took)
		b.Logf("%-34s p50 %8.2f ms  p99 %8.2f ms  (%d tries)", name, ms(p50), ms(p99), tries)
		b.ReportMetric(ms(p50), key+"-p50-ms")
		b.ReportMetric(ms(p99), key+"-p99-ms")
	}
	measure("direct dial to the server's host", "direct", srv, "direct", app.DefaultHeadStart)
	measure("punched, no head start", "punched", bob, "punched", time.Millisecond)
	measure("punched, default head start", "punched-headstart", bob, "punched", app.DefaultHeadStart)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// TestReachLabHelper is the helper process (see startReachHelper); it
// does nothing in a normal run.
func TestReachLabHelper(t *testing.T) {
	role := os.Getenv(envReachHelper)
	if role == "" {
		t.Skip("helper process of the reach lab tests")
	}
	in := bufio.NewScanner(os.Stdin)
	if err := runReachHelper(role, in, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
}

func runReachHelper(role string, in *bufio.Scanner, out io.Writer) error {
	if !in.Scan() {
		return nil
	}
	if role == "server" {
		ln, err := net.Listen("tcp", natlabtest.ServerIP+":8080")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- bootstrap.New(bootstrap.Config{}).Serve(ctx, ln) }()
		fmt.Fprintln(out, "ready")
		for in.Scan() { // until EOF
		}
		cancel()
		return <-done
	}
	fmt.Fprintln(out, "ready")
	var cur *labNode
	defer func() {
		if cur != nil {
			cur.stop()
		}
	}()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		answer := "bad command"
		switch {
		case f[0] == "node" && len(f) == 3:
			if cur != nil {
				cur.stop()
			}
			ms, _ := strconv.Atoi(f[2])
			n, err := startLabNode(f[1], time.Duration(ms)*time.Millisecond)
			if err != nil {
				return err
			}
			cur = n
			answer = "id " + n.id
		case f[0] == "wait" && len(f) == 2 && cur != nil:
			answer = cur.waitPeer(f[1])
		case f[0] == "send" && len(f) == 4 && cur != nil:
			ms, _ := strconv.Atoi(f[3])
			answer = cur.send(f[1], f[2], time.Duration(ms)*time.Millisecond)
		case f[0] == "recv" && len(f) == 2 && cur != nil:
			answer = cur.recv(f[1])
		case f[0] == "sendfile" && len(f) == 3 && cur != nil:
			size, _ := strconv.Atoi(f[2])
			answer = cur.sendFile(f[1], size)
		case f[0] == "getfile" && len(f) == 2 && cur != nil:
			answer = cur.getFile(f[1])
		}
		fmt.Fprintln(out, answer)
	}
	return in.Err()
}

// labNode is a Node run by a helper.
type labNode struct {
	*app.Node
	id  string
	tr  *transport.Transport
	dir string // received files, and the one sent
	// accepted is when getFile accepted the offer.
	accepted time.Time
	seen     int64 // Version of the last change looked at
	cancel   context.CancelFunc
	done     chan error
}

func startLabNode(nick string, headStart time.Duration) (*labNode, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	tr, err := transport.Listen(transport.Config{Identity: id})
	if err != nil {
		return nil, err
	}
	self := discovery.Self{Nickname: nick, Identity: id.ID().String(), Instance: app.NewInstanceID(), TCPPort: tr.Port()}
	var node atomic.Pointer[app.Node]
	rv, err := rendezvous.New(rendezvous.Config{URL: os.Getenv(envReachURL), Self: self, Identity: id,
		Features: []string{wire.FeatureReach},
		OnMessage: func(si rendezvous.ServerInfo, m wire.ServerMessage) {
			if n := node.Load(); n != nil {
				n.ServerMessage(si, m)
			}
		}})
	if err != nil {
		tr.Close()
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parlance-lab-files-")
	if err != nil {
		tr.Close()
		return nil, err
	}
	n, err := app.NewNode(app.Config{Nickname: nick, Identity: id, Instance: self.Instance, Mode: "internet",
		Transport: tr, Sources: []discovery.Source{rv}, Files: &app.FilesConfig{Dir: dir},
		Reach: &app.ReachConfig{Server: rv, RelayDial: rv.DialRelay, HeadStart: headStart}})
	if err != nil {
		tr.Close()
		return nil, err
	}
	node.Store(n)
	ctx, cancel := context.WithCancel(context.Background())
	ln := &labNode{Node: n, id: self.Identity, tr: tr, dir: dir, cancel: cancel, done: make(chan error, 1)}
	online := make(chan struct{})
	go func() { ln.done <- n.Run(ctx) }()
	go func() { // the events: only whether the server took us matters here
		once := false
		for ev := range n.Events() {
			if s, ok := ev.(app.SourceState); ok && s.State.Phase == discovery.Online && !once {
				once = true
				close(online)
			}
		}
	}()
	select {
	case <-online:
		return ln, nil
	case <-time.After(10 * time.Second):
		ln.stop()
		return nil, errors.New("not online on the bootstrap server within 10 s")
	}
}

func (n *labNode) stop() {
	n.cancel()
	<-n.done
	os.RemoveAll(n.dir)
}

// labFileSize is the size of the file TestReachLab sends.
const labFileSize = 256 << 10

// sendFile offers a file of size random bytes to id and answers
// "offered SHA256" once the peer has the offer.
func (n *labNode) sendFile(id string, size int) string {
	b := make([]byte, size)
	rand.Read(b)
	path := filepath.Join(n.dir, "lab.bin")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "error " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := n.SendFile(ctx, app.PeerKey("id:"+id), path)
	if err != nil || tr.State != filexfer.StateOffered {
		return fmt.Sprintf("error %s: %v", tr.State, err)
	}
	return "offered " + tr.SHA256
}

// getFile accepts the offer of a file whose hash is sum and answers
// "done US" with the time from the accept to the file's arrival.
func (n *labNode) getFile(sum string) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, tr := range n.Transfers() {
			switch {
			case tr.SHA256 != sum:
			case tr.State == filexfer.StateOffered:
				if _, err := n.AcceptFile(filexfer.ShortID(tr.ID)); err != nil {
					return "error " + err.Error()
				}
				n.accepted = time.Now()
			case tr.State == filexfer.StateDone:
				return fmt.Sprintf("done %d", time.Since(n.accepted).Microseconds())
			case tr.State == filexfer.StateFailed:
				return "failed " + strings.ReplaceAll(tr.Error, "\n", " ")
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "timeout"
}

func (n *labNode) waitPeer(id string) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p, ok := n.Peer(app.PeerKey("id:" + id)); ok && p.Online {
			return "seen"
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "timeout"
}

// send sends text to id and answers "OUTCOME CONNECTED_US ACKED_US":
// the path of the connection it went on (or "queued" if it was not
// acknowledged within timeout), the time from Send to a connection and
// to the acknowledgement.
func (n *labNode) send(id, text string, timeout time.Duration) string {
	start := time.Now()
	m, err := n.Send(context.Background(), app.PeerKey("id:"+id), text)
	if err != nil {
		return "error 0 0"
	}
	var connected time.Duration
	path := transport.PathNone
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if path == transport.PathNone {
			if path = n.tr.Path(id); path != transport.PathNone {
				connected = time.Since(start)
			}
		}
		if ms, _ := n.Changes(n.seen, 1000); len(ms) > 0 {
			for _, c := range ms {
				n.seen = max(n.seen, c.Version)
				if c.ID == m.ID && c.State == store.Delivered {
					return fmt.Sprintf("%s %d %d", path, connected.Microseconds(), time.Since(start).Microseconds())
				}
			}
			continue
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Sprintf("queued %d %d", connected.Microseconds(), time.Since(start).Microseconds())
}

func (n *labNode) recv(text string) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		hist, _ := n.Changes(0, 10000)
		for _, m := range hist {
			if !m.Outgoing && m.Text == text {
				return "got"
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "timeout"
}
