package group

import (
	"fmt"
	"testing"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Benchmarks of the engine, without a network. Each figure has a baseline
// measured in the same run: BenchmarkBaselineVerify (one Ed25519 check,
// the floor of taking in any signed frame), BenchmarkBaselineSign and
// BenchmarkBaselineChatLine (encoding one 1:1 chat line).
//
//	go test ./app/group -run '^$' -bench . -benchtime 2s

func BenchmarkBaselineVerify(b *testing.B) {
	id := testIdentity(1)
	msg := []byte("parlance-group-msg-v1 a message of about the size of a real one, 120 bytes or so in all, to sign and check")
	sig := id.Sign(msg)
	for b.Loop() {
		if !identity.Verify(id.PublicKey(), msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkBaselineSign(b *testing.B) {
	id := testIdentity(1)
	msg := []byte("parlance-group-msg-v1 a message of about the size of a real one, 120 bytes or so in all, to sign and check")
	for b.Loop() {
		id.Sign(msg)
	}
}

func BenchmarkBaselineChatLine(b *testing.B) {
	m := wire.Message{From: "alice", Content: "a short chat message of the usual length", Timestamp: 1700000000, ID: wire.NewMessageID()}
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = m.AppendLine(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddOp: verify and apply one op that extends the graph (the
// common case), in groups of 1,000 ops.
func BenchmarkAddOp(b *testing.B) {
	alice := testIdentity(1)
	create := signOp(alice, wire.GroupOp{Group: wire.GroupID{1}, Kind: wire.OpCreate, Name: "g"})
	const chain = 1000
	ops := make([]wire.GroupOp, chain)
	heads := []wire.OpHash{create.Hash()}
	for i := range ops {
		op := wire.GroupOp{Group: create.Group, Kind: wire.OpInvite, Target: string(testIdentity(byte(2 + i%250)).ID())}
		if i%2 == 1 {
			op = wire.GroupOp{Group: create.Group, Kind: wire.OpKick, Target: ops[i-1].Target}
		}
		ops[i] = signOp(alice, op, heads...)
		heads = []wire.OpHash{ops[i].Hash()}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += chain {
		b.StopTimer()
		g, err := newGroup(create, NewMemoryStore(), true)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, op := range ops[:min(chain, b.N-i)] {
			if st, _, err := g.AddOp(op); err != nil || st != OpAdded {
				b.Fatal(st, err)
			}
		}
	}
}

// BenchmarkFoldConcurrent: a full fold of a graph of n ops made at once by
// two admins on the same head (the worst shape: every op is ready at each
// step, and the kick voids the junior's ops), the cost paid on every
// op that does not extend all heads.
func BenchmarkFoldConcurrent(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			gr := newGraph(b, "a", "b")
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			g, head := gr.g, gr.ops["pb"]
			add := func(op wire.GroupOp) {
				signer, h, err := verifyOp(&op)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := g.insertLocked(op, h, signer, false); err != nil {
					b.Fatal(err)
				}
			}
			add(signOp(gr.ids["a"], wire.GroupOp{Group: g.id, Kind: wire.OpKick, Target: string(gr.ids["b"].ID())}, head))
			for i := range n - 1 {
				who := []string{"a", "b"}[i%2]
				add(signOp(gr.ids[who], wire.GroupOp{Group: g.id, Kind: wire.OpRename, Name: fmt.Sprint("n", i)}, head))
			}
			for b.Loop() {
				fold(g.genesis, len(g.nodes))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/op-in-graph")
		})
	}
}

// BenchmarkAcceptMessage: verify, de-duplicate, store and track one
// message from another member.
func BenchmarkAcceptMessage(b *testing.B) {
	alice, bob := testIdentity(1), testIdentity(2)
	create := signOp(alice, wire.GroupOp{Group: wire.GroupID{1}, Kind: wire.OpCreate, Name: "g"})
	invite := signOp(alice, wire.GroupOp{Group: create.Group, Kind: wire.OpInvite, Target: string(bob.ID())}, create.Hash())
	const batch = 10000
	msgs := make([]wire.GroupMessage, batch)
	for i := range msgs {
		msgs[i] = signMessage(bob, create.Group, uint64(i+1), int64(i), "a short chat message of the usual length")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		g, _ := newGroup(create, NewMemoryStore(), true)
		g.AddOp(invite)
		b.StartTimer()
		for _, m := range msgs[:min(batch, b.N-i)] {
			if added, _, err := g.AcceptMessage(m); err != nil || !added {
				b.Fatal(added, err)
			}
		}
	}
}

// BenchmarkFanOut50: Send in a 50-member group: number, sign, encode once,
// store, and list the 49 recipients. ns/member divides by them.
func BenchmarkFanOut50(b *testing.B) {
	store := NewMemoryStore()
	alice := testIdentity(1)
	e, err := New(Config{Identity: alice, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	var members []identity.ID
	for i := range 49 {
		members = append(members, testIdentity(byte(2+i)).ID())
	}
	gid, _, err := e.Create("fifty", members)
	if err != nil {
		b.Fatal(err)
	}
	g, _ := e.Group(gid)
	if n := len(g.State().Members()); n != 50 {
		b.Fatalf("%d members", n)
	}
	var lineBytes int
	for b.Loop() {
		_, out, err := e.Send(gid, "a short chat message of the usual length")
		if err != nil || len(out) != 1 || len(out[0].To) != 49 {
			b.Fatal(err, len(out))
		}
		lineBytes = len(out[0].Line)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/49, "ns/member")
	b.ReportMetric(float64(lineBytes), "line-bytes")
}

// BenchmarkCatchUp10k: a member who missed 10,000 messages (5,000 each
// from two others) catches up from one of them through both engines and
// the wire encoding: requests, replies, parsing, verifying, storing.
func BenchmarkCatchUp10k(b *testing.B) {
	n, alice, _, carol, gid := carolMisses(b, 10000)
	carolOps, _ := carol.store.Ops(gid)
	replies := 0
	for b.Loop() {
		b.StopTimer()
		st := NewMemoryStore()
		for _, op := range carolOps {
			st.PutOp(op)
		}
		e, err := New(Config{Identity: carol.id, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		carol.e, carol.store, carol.got, carol.offline, carol.frames = e, st, nil, false, 0
		b.StartTimer()
		n.send(carol, e.SyncWith(alice.id.ID()))
		n.run()
		if len(carol.got) != 10000 {
			b.Fatalf("carol got %d", len(carol.got))
		}
		replies = carol.frames
	}
	b.ReportMetric(float64(replies), "replies")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/message")
}
