// Package storetest is the conformance suite every store.Store
// implementation must pass: store.Memory and the SQLite store run it.
package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

// Run runs the suite; open returns a new, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendAssignsSeqAndVersion", appendAssigns},
		{"AppendSkipsDuplicates", appendSkipsDuplicates},
		{"HistoryPages", historyPages},
		{"ChangesCatchUp", changesCatchUp},
		{"StatesOnlyGoForward", statesForward},
		{"Outbox", outbox},
		{"ExpireOutbox", expireOutbox},
		{"ConversationsAndRead", conversationsAndRead},
		{"Search", search},
		{"ContactsAndPins", contactsAndPins},
		{"Closed", closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func in(conv, id, text string, i int) store.Message {
	return store.Message{ID: id, Conv: store.ConvID(conv), Peer: conv, From: "bob", Text: text,
		Sent: t0.Add(time.Duration(i) * time.Second), At: t0.Add(time.Duration(i) * time.Second), State: store.Received}
}

func out(conv, id, text string, i int) store.Message {
	return store.Message{ID: id, Conv: store.ConvID(conv), Peer: conv, From: "alice", Text: text, Outgoing: true,
		Sent: t0.Add(time.Duration(i) * time.Second), At: t0.Add(time.Duration(i) * time.Second), State: store.Queued}
}

// ok returns v, panicking on an error (which fails the test with the
// store's error and a stack).
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func appendAssigns(t *testing.T, s store.Store) {
	got := ok(s.Append([]store.Message{in("id:B", "1", "hi", 0), in("id:C", "2", "yo", 1), in("id:B", "", "orig has no id", 2)}))
	if len(got) != 3 {
		t.Fatalf("added %d, want 3", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq || got[i].Version <= got[i-1].Version {
			t.Fatalf("seq/version not increasing: %+v", got)
		}
	}
	if v := ok(s.LastVersion()); v != got[2].Version {
		t.Fatalf("LastVersion %d, want %d", v, got[2].Version)
	}
	if got[2].Text != "orig has no id" {
		t.Fatalf("third message %+v", got[2])
	}
	// After a state change, a new message still gets Seq = Version.
	ok(s.Append([]store.Message{out("id:B", "o1", "mine", 3)}))
	ok(s.SetState("id:B", []string{"o1"}, store.Sent, ""))
	ok(s.MarkRead("id:B", got[0].Seq))
	got = append(got, ok(s.Append([]store.Message{in("id:B", "late", "later", 4)}))...)
	for _, m := range got {
		if m.Seq != m.Version {
			t.Fatalf("a new message's Seq %d is not the Version %d it was added at", m.Seq, m.Version)
		}
	}
	if got[0].Text != "hi" || got[0].Conv != "id:B" || !got[0].Sent.Equal(t0) {
		t.Fatalf("fields not kept: %+v", got[0])
	}
}

func appendSkipsDuplicates(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{in("id:B", "1", "a", 0), in("id:B", "2", "b", 1)}))
	got := ok(s.Append([]store.Message{in("id:B", "2", "b again", 2), in("id:B", "3", "c", 3), in("id:C", "2", "same id, other conv", 4)}))
	if len(got) != 2 || got[0].ID != "3" || got[1].Conv != "id:C" {
		t.Fatalf("Append with a duplicate added %+v", got)
	}
	h := ok(s.History("id:B", 0, 10))
	if len(h) != 3 || h[1].Text != "b" {
		t.Fatalf("history %+v", h)
	}
}

func historyPages(t *testing.T, s store.Store) {
	var ms []store.Message
	for i := range 25 {
		ms = append(ms, in("id:B", fmt.Sprint(i), fmt.Sprint("m", i), i))
		ms = append(ms, in("id:C", fmt.Sprint("c", i), "other", i))
	}
	ok(s.Append(ms))
	page := ok(s.History("id:B", 0, 10))
	if len(page) != 10 || page[0].Text != "m15" || page[9].Text != "m24" {
		t.Fatalf("newest page: %d messages, %v..%v", len(page), page[0].Text, page[len(page)-1].Text)
	}
	page = ok(s.History("id:B", page[0].Seq, 10))
	if len(page) != 10 || page[0].Text != "m5" || page[9].Text != "m14" {
		t.Fatalf("second page: %v..%v", page[0].Text, page[9].Text)
	}
	page = ok(s.History("id:B", page[0].Seq, 10))
	if len(page) != 5 || page[0].Text != "m0" {
		t.Fatalf("last page: %d", len(page))
	}
	if h := ok(s.History("id:nobody", 0, 10)); len(h) != 0 {
		t.Fatalf("unknown conversation has history %v", h)
	}
}

func changesCatchUp(t *testing.T, s store.Store) {
	var ms []store.Message
	for i := range 100 {
		ms = append(ms, in("id:B", fmt.Sprint(i), fmt.Sprint(i), i))
	}
	ms = append(ms, out("id:B", "o1", "mine", 100))
	ok(s.Append(ms))
	var seen []store.Message
	var v int64
	for {
		page := ok(s.Changes(v, 7))
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		v = page[len(page)-1].Version
	}
	if len(seen) != 101 {
		t.Fatalf("caught up on %d, want 101", len(seen))
	}
	for i, m := range seen[:100] {
		if m.Text != fmt.Sprint(i) {
			t.Fatalf("change %d is %q", i, m.Text)
		}
	}
	ch := ok(s.SetState("id:B", []string{"o1"}, store.Delivered, ""))
	if len(ch) != 1 || ch[0].Version <= v {
		t.Fatalf("SetState changed %+v", ch)
	}
	page := ok(s.Changes(v, 10))
	if len(page) != 1 || page[0].ID != "o1" || page[0].State != store.Delivered {
		t.Fatalf("changes after a state change: %+v", page)
	}
}

func statesForward(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{out("id:B", "o1", "x", 0)}))
	steps := []struct {
		to      store.State
		changed bool
	}{
		{store.Sent, true},
		{store.Queued, true}, // the connection broke before the ack
		{store.Sent, true},
		{store.Delivered, true},
		{store.Sent, false},
		{store.Failed, false},
		{store.Read, true},
		{store.Delivered, false},
	}
	for _, st := range steps {
		ch := ok(s.SetState("id:B", []string{"o1"}, st.to, ""))
		if (len(ch) == 1) != st.changed {
			t.Fatalf("to %v: changed %v, want %v", st.to, len(ch) == 1, st.changed)
		}
	}
	m := ok(s.Message("id:B", "o1"))
	if m.State != store.Read {
		t.Fatalf("state %v", m.State)
	}
}

func outbox(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{out("id:B", "o1", "1", 0), in("id:B", "i1", "in", 1), out("id:B", "o2", "2", 2), out("id:C", "o3", "3", 3)}))
	ok(s.SetState("id:B", []string{"o1"}, store.Sent, ""))
	if err := s.MarkAttempt("id:B", []string{"o1"}); err != nil {
		t.Fatal(err)
	}
	ob := ok(s.Outbox("id:B", 10))
	if len(ob) != 2 || ob[0].ID != "o1" || ob[1].ID != "o2" || ob[0].Attempts != 1 {
		t.Fatalf("outbox %+v", ob)
	}
	convs := ok(s.OutboxConvs())
	if len(convs) != 2 {
		t.Fatalf("outbox convs %v", convs)
	}
	ok(s.SetState("id:B", []string{"o1", "o2"}, store.Delivered, ""))
	ok(s.SetState("id:C", []string{"o3"}, store.SentNoReceipt, ""))
	if ob := ok(s.Outbox("id:B", 10)); len(ob) != 0 {
		t.Fatalf("outbox after delivery %+v", ob)
	}
	if convs := ok(s.OutboxConvs()); len(convs) != 0 {
		t.Fatalf("outbox convs after delivery %v", convs)
	}
}

func expireOutbox(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{out("id:B", "old", "1", 0), out("id:B", "new", "2", 3600)}))
	exp := ok(s.ExpireOutbox(t0.Add(time.Minute), "not delivered within 7 days"))
	if len(exp) != 1 || exp[0].ID != "old" || exp[0].State != store.Failed || exp[0].Error == "" {
		t.Fatalf("expired %+v", exp)
	}
	ob := ok(s.Outbox("id:B", 10))
	if len(ob) != 1 || ob[0].ID != "new" {
		t.Fatalf("outbox %+v", ob)
	}
	// /resend puts it back.
	if ch := ok(s.SetState("id:B", []string{"old"}, store.Queued, "")); len(ch) != 1 {
		t.Fatal("resend did not queue again")
	}
}

func conversationsAndRead(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{in("id:B", "1", "a", 0), in("id:B", "2", "b", 1), in("id:C", "3", "c", 2), out("id:B", "o", "d", 3)}))
	cs := ok(s.Conversations())
	if len(cs) != 2 || cs[0].Conv != "id:B" || cs[0].Messages != 3 || cs[0].Unread != 2 || cs[0].Nickname != "bob" {
		t.Fatalf("conversations %+v", cs)
	}
	h := ok(s.History("id:B", 0, 10))
	read := ok(s.MarkRead("id:B", h[0].Seq))
	if len(read) != 1 || read[0].State != store.Read {
		t.Fatalf("read %+v", read)
	}
	cs = ok(s.Conversations())
	if cs[0].Unread != 1 {
		t.Fatalf("unread after MarkRead: %d", cs[0].Unread)
	}
}

func search(t *testing.T, s store.Store) {
	ok(s.Append([]store.Message{
		in("id:B", "1", "the quick brown fox", 0),
		in("id:C", "2", "Quicksilver jumps", 1),
		in("id:B", "3", "nothing here", 2),
		out("id:B", "4", "a QUICK reply, fox", 3),
	}))
	hits := ok(s.Search("quick", 10))
	if len(hits) != 3 || hits[0].ID != "4" {
		t.Fatalf("search quick: %+v", hits)
	}
	hits = ok(s.Search("quick fox", 10))
	if len(hits) != 2 {
		t.Fatalf("search quick fox: %+v", hits)
	}
	if hits := ok(s.Search(`"; DROP TABLE messages; --`, 10)); len(hits) != 0 {
		t.Fatalf("hostile query matched %+v", hits)
	}
	if hits := ok(s.Search("quick", 1)); len(hits) != 1 {
		t.Fatalf("limit not applied: %d", len(hits))
	}
}

func contactsAndPins(t *testing.T, s store.Store) {
	c := store.Contact{Identity: "K1", Nickname: "bob", Nicknames: []string{"bob", "bobby"}, FirstSeen: t0, LastSeen: t0.Add(time.Hour), LastAddr: "10.0.0.2:7000"}
	if err := s.SaveContact(c); err != nil {
		t.Fatal(err)
	}
	c.Verified = true
	if err := s.SaveContact(c); err != nil {
		t.Fatal(err)
	}
	cs := ok(s.Contacts())
	if len(cs) != 1 || !cs[0].Verified || len(cs[0].Nicknames) != 2 || cs[0].LastAddr != c.LastAddr || !cs[0].LastSeen.Equal(c.LastSeen) {
		t.Fatalf("contacts %+v", cs)
	}
	if err := s.SetPin("bob", "K1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPin("bob", "K2"); err != nil {
		t.Fatal(err)
	}
	pins := ok(s.Pins())
	if pins["bob"] != "K2" || len(pins) != 1 {
		t.Fatalf("pins %v", pins)
	}
}

func closed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append([]store.Message{in("id:B", "1", "a", 0)}); err == nil {
		t.Fatal("Append after Close succeeded")
	}
}
