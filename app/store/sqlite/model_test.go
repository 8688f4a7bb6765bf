package sqlite

import (
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

// TestSameAsMemory runs random sequences of operations on store.Memory (the
// reference) and on the SQLite store, and compares every answer.
func TestSameAsMemory(t *testing.T) {
	for _, history := range []bool{true, false} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("history=%v/seed=%d", history, seed), func(t *testing.T) {
				compareRandomOps(t, seed, history)
			})
		}
	}
}

func compareRandomOps(t *testing.T, seed uint64, history bool) {
	rng := mrand.New(mrand.NewPCG(seed, 42))
	ref := store.NewMemory(0)
	s := openTemp(t, Options{History: history})
	convs := []store.ConvID{"id:A", "id:B", "orig:carol@10.0.0.3"}
	words := []string{"alpha", "beta", "gamma", "alphabet", "delta", "be"}
	states := []store.State{store.Received, store.Queued, store.Sent, store.Delivered, store.Read, store.Failed, store.SentNoReceipt}
	var ids []string // ids used so far, for duplicates and state changes
	pickIDs := func() []string {
		var out []string
		for range 1 + rng.IntN(3) {
			if len(ids) > 0 {
				out = append(out, ids[rng.IntN(len(ids))])
			}
		}
		return out
	}
	const steps = 200
	for step := range steps {
		conv := convs[rng.IntN(len(convs))]
		var op string
		var a, b any
		switch rng.IntN(8) {
		case 0, 1, 2:
			op = "Append"
			var ms []store.Message
			for range 1 + rng.IntN(4) {
				id := fmt.Sprint("m", step, "-", len(ms))
				if len(ids) > 0 && rng.IntN(4) == 0 {
					id = ids[rng.IntN(len(ids))] // a retry
				} else if rng.IntN(10) == 0 {
					id = "" // an original peer's
				}
				if id != "" {
					ids = append(ids, id)
				}
				m := store.Message{ID: id, Conv: conv, Peer: string(conv), From: "bob",
					Text: words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
					At:   t0.Add(time.Duration(step) * time.Minute), Sent: t0}
				if rng.IntN(2) == 0 {
					m.Outgoing, m.From, m.State = true, "alice", store.Queued
				}
				ms = append(ms, m)
			}
			a, b = result(ref.Append(ms)), result(s.Append(ms))
		case 3:
			op = "SetState"
			st := states[rng.IntN(len(states))]
			ids := pickIDs()
			a, b = result(ref.SetState(conv, ids, st, "e")), result(s.SetState(conv, ids, st, "e"))
		case 4:
			op = "MarkAttempt"
			ids := pickIDs()
			a, b = ref.MarkAttempt(conv, ids), s.MarkAttempt(conv, ids)
		case 5:
			op = "MarkRead"
			upTo := int64(rng.IntN(step + 1))
			a, b = result(ref.MarkRead(conv, upTo)), result(s.MarkRead(conv, upTo))
		case 6:
			op = "ExpireOutbox"
			cut := t0.Add(time.Duration(rng.IntN(step+1)) * time.Minute)
			a, b = result(ref.ExpireOutbox(cut, "expired")), result(s.ExpireOutbox(cut, "expired"))
		case 7:
			op = "Search"
			w := words[rng.IntN(len(words))]
			q := w[:min(len(w), 2+rng.IntN(2))]
			a, b = result(ref.Search(q, 5)), result(s.Search(q, 5))
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("step %d %s:\nmemory %+v\nsqlite %+v", step, op, a, b)
		}
		// Every read agrees, every few steps (they are slow with -race).
		if step%10 != 9 {
			continue
		}
		for _, c := range convs {
			check(t, step, "History", result(ref.History(c, 0, 1000)), result(s.History(c, 0, 1000)))
			check(t, step, "Outbox", result(ref.Outbox(c, 1000)), result(s.Outbox(c, 1000)))
		}
		after := int64(rng.IntN(step + 1))
		check(t, step, "Changes", result(ref.Changes(after, 20)), result(s.Changes(after, 20)))
		check(t, step, "OutboxConvs", result(ref.OutboxConvs()), result(s.OutboxConvs()))
		check(t, step, "Conversations", result(ref.Conversations()), result(s.Conversations()))
		check(t, step, "LastVersion", result(ref.LastVersion()), result(s.LastVersion()))
	}
}

// result is an answer to compare: the value, or the error's presence.
func result[T any](v T, err error) any {
	if err != nil {
		return "error"
	}
	return normalise(v)
}

// normalise makes answers comparable: times as Unix microseconds, empty
// slices as nil.
func normalise(v any) any {
	switch v := v.(type) {
	case []store.Message:
		if len(v) == 0 {
			return nil
		}
		out := make([]store.Message, len(v))
		for i, m := range v {
			m.Sent, m.At = time.UnixMicro(m.Sent.UnixMicro()), time.UnixMicro(m.At.UnixMicro())
			out[i] = m
		}
		return out
	case []store.Conversation:
		if len(v) == 0 {
			return nil
		}
		out := make([]store.Conversation, len(v))
		for i, c := range v {
			c.LastAt = time.UnixMicro(c.LastAt.UnixMicro())
			out[i] = c
		}
		return out
	case []store.ConvID:
		if len(v) == 0 {
			return nil
		}
	}
	return v
}

func check(t *testing.T, step int, what string, a, b any) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("after step %d, %s:\nmemory %+v\nsqlite %+v", step, what, a, b)
	}
}
