package filexfer

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestFramesRoundTrip(t *testing.T) {
	id := newID()
	buf := make([]byte, dataHeader+MaxChunk)
	check := func(b []byte, want byte) []byte {
		t.Helper()
		typ, p, err := readFrame(bytes.NewReader(b), buf)
		if err != nil || typ != want {
			t.Fatalf("readFrame: %c, %v", typ, err)
		}
		return p
	}
	o := offerFrame{ID: id, Size: 123, SHA256: [32]byte{1, 2, 3}, Name: "photo.jpg"}
	if got, err := parseOffer(check(o.append(nil), frameOffer), false); err != nil || got != o {
		t.Fatalf("offer: %+v, %v", got, err)
	}
	og := offerFrame{ID: id, Size: 9, SHA256: [32]byte{4}, Name: "team.txt", Group: [groupLen]byte{7, 8}, InGroup: true}
	if got, err := parseOffer(check(og.append(nil), frameGroupOffer), true); err != nil || got != og {
		t.Fatalf("group offer: %+v, %v", got, err)
	}
	g := getFrame{ID: id, Offset: 1 << 40}
	if got, err := parseGet(check(g.append(nil), frameGet)); err != nil || got != g {
		t.Fatalf("get: %+v, %v", got, err)
	}
	a := answerFrame{Code: codeBusy, Reason: "try later"}
	if got, err := parseAnswer(check(a.append(nil), frameAnswer)); err != nil || got != a {
		t.Fatalf("answer: %+v, %v", got, err)
	}
	nt := noticeFrame{ID: id, Code: codeCancelled, Reason: "stop"}
	if got, err := parseNotice(check(nt.append(nil), frameNotice)); err != nil || got != nt {
		t.Fatalf("notice: %+v, %v", got, err)
	}
	d := make([]byte, dataHeader+5)
	copy(d[dataHeader:], "hello")
	putDataHeader(d, 77, 5)
	if off, data, err := parseData(check(d, frameData)); err != nil || off != 77 || string(data) != "hello" {
		t.Fatalf("data: %d %q %v", off, data, err)
	}
	// A long reason is cut on a rune boundary.
	long := answerFrame{Reason: strings.Repeat("é", maxReason)}
	if got, err := parseAnswer(check(long.append(nil), frameAnswer)); err != nil || len(got.Reason) != maxReason {
		t.Fatalf("long reason: %d bytes, %v", len(got.Reason), err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	buf := make([]byte, dataHeader+MaxChunk)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short header", []byte{'A', 0}, io.ErrUnexpectedEOF},
		{"unknown type", []byte{'Z', 0, 0, 0, 0}, errBadFrame},
		{"data over the chunk limit", []byte{'D', 0, 4, 0, 9}, errBadFrame},
		{"answer over its limit", []byte{'A', 0, 0, 2, 2}, errBadFrame},
		{"huge length", []byte{'O', 0xff, 0xff, 0xff, 0xff}, errBadFrame},
		{"payload cut short", []byte{'A', 0, 0, 0, 3, 0}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readFrame(bytes.NewReader(tc.in), buf)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := parseOffer(make([]byte, idLen+8+32), false); err != nil {
		t.Fatalf("an offer with an empty name: %v", err)
	}
	if _, err := parseOffer(append(make([]byte, idLen+8+32), 0xff), false); err == nil {
		t.Fatal("an offer with a name that is not UTF-8 parsed")
	}
	if _, err := parseOffer(make([]byte, idLen+8+32), true); err == nil {
		t.Fatal("a group offer without its group id parsed")
	}
	if _, _, err := parseData(make([]byte, 8)); err == nil {
		t.Fatal("an empty data frame parsed")
	}
}

func TestSanitizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{"/etc/shadow", "shadow"},
		{`C:\Windows\win.ini`, "win.ini"},
		{"..", "file"},
		{"...", "file"},
		{"", "file"},
		{"dir/", "file"},
		{".hidden", "hidden"},
		{"..\x00.txt", "txt"},
		{"  spaced .txt. ", "spaced .txt"},
		{"a\tb\nc.txt", "abc.txt"},
		{"\x1b[31mred\x1b[0m.txt", "[31mred[0m.txt"},
		{"\u009b31mcsi.txt", "31mcsi.txt"},
		{"invoice\u202efdp.exe", "invoicefdp.exe"},
		{"zero\u200bwidth", "zerowidth"},
		{"bad\xffutf8", "badutf8"},
		{`a<b>c:d"e|f?g*h`, "a_b_c_d_e_f_g_h"},
		{"CON", "_CON"},
		{"com1.txt", "_com1.txt"},
		{"console.txt", "console.txt"},
		{"日本語.txt", "日本語.txt"},
		{strings.Repeat("a", 300) + ".jpeg", strings.Repeat("a", MaxSavedName-5) + ".jpeg"},
		{strings.Repeat("é", 150), strings.Repeat("é", MaxSavedName/2)},
	} {
		if got := SanitizeName(tc.in); got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"a.txt", 0, "a.txt"},
		{"a.txt", 1, "a (1).txt"},
		{"archive.tar.gz", 2, "archive.tar (2).gz"},
		{"noext", 3, "noext (3)"},
	} {
		if got := numbered(tc.name, tc.n); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestProgressFormatAndThrottle(t *testing.T) {
	tr := Transfer{ID: "x", Name: "a.bin", Size: 50_000_000, Done: 12_000_000, Rate: 8_100_000, ETA: 5 * time.Second}
	if got, want := FormatProgress(tr), "a.bin: 12.0 MB of 50.0 MB (24%), 8.1 MB/s, 5s left"; got != want {
		t.Fatalf("FormatProgress = %q, want %q", got, want)
	}
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 4096 << 20: "4.3 GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	th := Throttle{Every: time.Second}
	t0 := time.Unix(1000, 0)
	prog := Event{Kind: EventProgress, Transfer: tr}
	for _, step := range []struct {
		ev   Event
		at   time.Duration
		want bool
	}{
		{prog, 0, true},
		{prog, 500 * time.Millisecond, false},
		{Event{Kind: EventProgress, Transfer: Transfer{ID: "other"}}, 600 * time.Millisecond, true},
		{prog, 1000 * time.Millisecond, true},
		{Event{Kind: EventDone, Transfer: tr}, 1100 * time.Millisecond, true},
	} {
		if got := th.Allow(step.ev, t0.Add(step.at)); got != step.want {
			t.Fatalf("at %v, %v: Allow = %v", step.at, step.ev.Kind, got)
		}
	}
}

func TestFormatEvent(t *testing.T) {
	tr := Transfer{ID: "1a2b3c4d5e6f", Name: "a.jpg", Size: 2_100_000, Path: "/dl/a.jpg"}
	in, out := tr, tr
	in.Dir, out.Dir = Receive, Send
	failed := in
	failed.Error = "disk full: free space"
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Event{EventOffered, in}, "offer 1a2b3c4d: a.jpg (2.1 MB): /accept 1a2b3c4d or /reject 1a2b3c4d"},
		{Event{EventOffered, out}, "offered 1a2b3c4d: a.jpg (2.1 MB), waiting for an answer"},
		{Event{EventDone, in}, "1a2b3c4d a.jpg: saved to /dl/a.jpg, SHA-256 verified"},
		{Event{EventDone, out}, "1a2b3c4d a.jpg: delivered, SHA-256 verified by the receiver"},
		{Event{EventFailed, failed}, "1a2b3c4d a.jpg: failed: disk full: free space"},
		{Event{EventQueued, Transfer{ID: tr.ID, Name: "a.jpg", Size: 5, Error: "waiting for the peer to come online"}},
			"queued 1a2b3c4d: a.jpg (5 B), waiting for the peer to come online; /cancel 1a2b3c4d"},
		{Event{EventExpired, Transfer{ID: tr.ID, Name: "a.jpg", Error: "the offer was not answered within 7 days"}},
			"1a2b3c4d a.jpg: expired (the offer was not answered within 7 days)"},
	} {
		if got := FormatEvent(tc.ev); got != tc.want {
			t.Errorf("FormatEvent(%v) = %q, want %q", tc.ev.Kind, got, tc.want)
		}
	}
}

func TestMeter(t *testing.T) {
	var m meter
	t0 := time.Unix(0, 0)
	every := 250 * time.Millisecond
	m.update(t0, 0, 1000, every)
	if !m.update(t0.Add(time.Second), 100, 1000, every) {
		t.Fatal("no progress due after a second")
	}
	if m.rate != 100 || m.eta(100, 1000) != 9*time.Second {
		t.Fatalf("rate %v, ETA %v", m.rate, m.eta(100, 1000))
	}
	if m.update(t0.Add(time.Second+time.Millisecond), 101, 1000, every) {
		t.Fatal("progress due again after a millisecond")
	}
	if !m.update(t0.Add(time.Second+2*time.Millisecond), 1000, 1000, every) {
		t.Fatal("no progress at the end")
	}
}

func TestOfferLimiter(t *testing.T) {
	l := offerLimiter{burst: 2, every: 10 * time.Second}
	t0 := time.Unix(0, 0)
	for i, want := range []bool{true, true, false} {
		if got := l.allow("p", t0); got != want {
			t.Fatalf("offer %d: %v", i, got)
		}
	}
	if !l.allow("q", t0) {
		t.Fatal("another peer is limited too")
	}
	if !l.allow("p", t0.Add(10*time.Second)) || l.allow("p", t0.Add(10*time.Second)) {
		t.Fatal("the bucket does not refill one per interval")
	}
}

// Fuzz tests: every parser of bytes from a peer.

func FuzzReadFrame(f *testing.F) {
	f.Add(offerFrame{Name: "a.txt", Size: 3}.append(nil))
	f.Add(offerFrame{Name: "b.txt", Size: 4, InGroup: true, Group: [groupLen]byte{1}}.append(nil))
	f.Add(getFrame{Offset: 9}.append(nil))
	f.Add(answerFrame{Code: 1, Reason: "no"}.append(nil))
	f.Add(noticeFrame{Code: 2}.append(nil))
	f.Add([]byte{'D', 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add([]byte{'D', 0xff, 0xff, 0xff, 0xff})
	buf := make([]byte, dataHeader+MaxChunk)
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			typ, p, err := readFrame(r, buf)
			if err != nil {
				return
			}
			if limit, ok := maxPayload(typ); !ok || len(p) > limit {
				t.Fatalf("type %c with %d bytes passed", typ, len(p))
			}
			switch typ { // every parser must cope with what readFrame passes
			case frameOffer, frameGroupOffer:
				g := typ == frameGroupOffer
				if o, err := parseOffer(p, g); err == nil {
					if o2, err := parseOffer(o.append(nil)[headerLen:], g); err != nil || o2 != o {
						t.Fatalf("offer does not round-trip: %+v, %+v, %v", o, o2, err)
					}
				}
			case frameGet:
				parseGet(p)
			case frameAnswer:
				parseAnswer(p)
			case frameData:
				parseData(p)
			case frameNotice:
				parseNotice(p)
			}
		}
	})
}

func FuzzParseOffer(f *testing.F) {
	f.Add(offerFrame{Name: "../../etc/passwd", Size: 1 << 40}.append(nil)[headerLen:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		o, err := parseOffer(p, len(p)%2 == 1)
		if err != nil {
			return
		}
		if o.Size < 0 || len(o.Name) > MaxNameBytes {
			t.Fatalf("parsed %+v", o)
		}
		checkSaneName(t, SanitizeName(o.Name))
	})
}

func FuzzParseAnswerAndNotice(f *testing.F) {
	f.Add(answerFrame{Code: 3, Reason: "\x1b[2Jbusy"}.append(nil)[headerLen:])
	f.Add(noticeFrame{Code: 2, Reason: "x"}.append(nil)[headerLen:])
	f.Fuzz(func(t *testing.T, p []byte) {
		if a, err := parseAnswer(p); err == nil {
			checkSaneText(t, a.Reason)
		}
		if n, err := parseNotice(p); err == nil {
			checkSaneText(t, n.Reason)
		}
	})
}

func FuzzParseGetAndData(f *testing.F) {
	f.Add(getFrame{Offset: 5}.append(nil)[headerLen:])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, p []byte) {
		if g, err := parseGet(p); err == nil && g.Offset < 0 {
			t.Fatalf("negative offset %d", g.Offset)
		}
		if off, data, err := parseData(p); err == nil && (off < 0 || len(data) == 0 || len(data) > MaxChunk) {
			t.Fatalf("data at %d of %d bytes", off, len(data))
		}
	})
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", "\x1b]0;x\x07", ".", "a/b\\c", "CON.txt", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkSaneName(t, SanitizeName(name))
	})
}

func checkSaneName(t *testing.T, s string) {
	t.Helper()
	switch {
	case s == "" || len(s) > MaxSavedName:
		t.Fatalf("name %q: empty or too long", s)
	case strings.ContainsAny(s, `/\<>:"|?*`):
		t.Fatalf("name %q holds a forbidden character", s)
	case s[0] == '.' || s[0] == ' ' || strings.HasSuffix(s, ".") || strings.HasSuffix(s, " "):
		t.Fatalf("name %q starts or ends with a dot or space", s)
	case filepath.Base(s) != s || filepath.Clean(s) != s:
		t.Fatalf("name %q is not one clean path element", s)
	}
	checkSaneText(t, s)
}

func checkSaneText(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			t.Fatalf("text %q holds %U", s, r)
		}
	}
}
