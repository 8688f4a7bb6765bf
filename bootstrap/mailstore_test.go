package bootstrap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

func TestMailStoreBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	small := bytes.Repeat([]byte{7}, 100)
	type put struct {
		from, to, id string
		size         int
		at           time.Duration // after now
		want         error
	}
	tests := []struct {
		name string
		cfg  MailConfig
		puts []put
	}{
		{"per recipient count", MailConfig{MaxPerRecipient: 2}, []put{
			{"a", "b", "1", 100, 0, nil}, {"c", "b", "2", 100, 0, nil}, {"d", "b", "3", 100, 0, ErrMailRecipientFull},
			{"a", "x", "3", 100, 0, nil},
		}},
		{"per recipient bytes", MailConfig{MaxBytesPerRecipient: 2*(100+mailItemOverhead) + 10}, []put{
			{"a", "b", "1", 100, 0, nil}, {"a", "b", "2", 100, 0, nil}, {"c", "b", "3", 100, 0, ErrMailRecipientFull},
		}},
		{"per sender", MailConfig{MaxPerSender: 2}, []put{
			{"a", "b", "1", 100, 0, nil}, {"a", "c", "1", 100, 0, nil}, {"a", "d", "1", 100, 0, ErrMailSenderFull},
			{"e", "d", "1", 100, 0, nil},
		}},
		{"total", MailConfig{MaxTotalBytes: 3 * (100 + mailItemOverhead)}, []put{
			{"a", "b", "1", 100, 0, nil}, {"c", "d", "1", 100, 0, nil}, {"e", "f", "1", 100, 0, nil},
			{"g", "h", "1", 100, 0, ErrMailStoreFull},
		}},
		{"same put twice is stored once", MailConfig{MaxPerRecipient: 1}, []put{
			{"a", "b", "1", 100, 0, nil}, {"a", "b", "1", 100, 0, nil}, {"c", "b", "1", 100, 0, ErrMailDuplicate},
		}},
		{"age frees room", MailConfig{MaxPerRecipient: 1, MaxAge: time.Hour}, []put{
			{"a", "b", "1", 100, 0, nil}, {"a", "b", "2", 100, 30 * time.Minute, ErrMailRecipientFull},
			{"a", "b", "3", 100, 2 * time.Hour, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := OpenMailStore(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range tt.puts {
				err := m.Put(p.from, p.to, p.id, small[:p.size], now.Add(p.at))
				if !errors.Is(err, p.want) {
					t.Fatalf("put %d %+v: %v, want %v", i, p, err, p.want)
				}
			}
		})
	}
}

func TestMailStoreFetchAck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m, err := OpenMailStore(MailConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if err := m.Put("a", "b", id, []byte("sealed "+id), now); err != nil {
			t.Fatal(err)
		}
	}
	items, more := m.Fetch("b", 2, 1<<20, now)
	if len(items) != 2 || !more || items[0].ID != "1" || items[0].From != "a" {
		t.Fatalf("fetch: %+v more=%v", items, more)
	}
	if n := m.Ack("b", []string{"1", "2", "x"}); n != 2 {
		t.Fatalf("ack removed %d, want 2", n)
	}
	if n := m.Ack("c", []string{"3"}); n != 0 {
		t.Fatal("another recipient acknowledged b's item")
	}
	items, more = m.Fetch("b", 10, 1<<20, now)
	if len(items) != 1 || more || items[0].ID != "3" {
		t.Fatalf("fetch after ack: %+v more=%v", items, more)
	}
	if c, _ := m.Status("b", now); c != 1 {
		t.Fatalf("status %d, want 1", c)
	}
	m.Ack("b", []string{"3"})
	if st := m.Stats(); st.Items != 0 || st.Bytes != 0 || st.Recipients != 0 {
		t.Fatalf("empty store counts %+v", st)
	}
}

func TestMailStoreDir(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	m, err := OpenMailStore(MailConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	key := wire.MailboxKey{Identity: "B", PublicKey: make([]byte, 32), KEM: 0x20, Key: []byte{1}, Created: now.Unix(),
		Expires: now.Add(time.Hour).Unix(), Signature: make([]byte, 64)}
	m.PutKey(key, now)
	for _, id := range []string{"1", "2"} {
		if err := m.Put("a", "b", id, []byte("sealed"), now); err != nil {
			t.Fatal(err)
		}
	}
	m.Ack("b", []string{"1"})
	again, err := OpenMailStore(MailConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := again.Fetch("b", 10, 1<<20, now)
	if len(items) != 1 || items[0].ID != "2" {
		t.Fatalf("after reopen: %+v", items)
	}
	if _, ok := again.Key("B", now); !ok {
		t.Fatal("key lost at reopen")
	}
	if _, ok := again.Key("B", now.Add(2*time.Hour)); ok {
		t.Fatal("expired key handed out")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "keys", "*.json"))
	if len(files) != 0 {
		t.Fatalf("expired key still on disk: %v", files)
	}
	if fi, err := os.Stat(filepath.Join(dir, "items")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("items directory: %v %v", err, fi.Mode())
	}
}
