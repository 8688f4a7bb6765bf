package storagebench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/sys/unix"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/app/store/sqlite"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/tui"
)

// Sizes of the stored-history measures.
const (
	buildBatch   = 10_000 // messages per Append while building
	openRounds   = 5      // first frames timed, warm and cold each
	searchRounds = 11     // times each search runs
	pageRounds   = 200    // deep History pages timed
	pgUpSteps    = 60     // PgUp keys pressed in the TUI
	pageSize     = 200    // the TUI's history page
	searchLimit  = 200    // the TUI's /search limit
	vocabulary   = 5000   // distinct words of the texts
)

// Stored is what one stored history measured.
type Stored struct {
	Messages        int     `json:"messages"`
	MeanText        float64 `json:"mean_text_bytes"`
	AppendPerSecond float64 `json:"append_msgs_per_s"`
	BytesPerMessage float64 `json:"bytes_per_message"`
	FileBytes       int64   `json:"file_bytes"`
	// FirstFrame and FirstFrameCold: open + first frame, with the file
	// in the page cache and with its pages dropped first.
	FirstFrame     report.Latency `json:"first_frame"`
	FirstFrameCold report.Latency `json:"first_frame_cold"`
	Searches       []Search       `json:"searches"`
	Page           report.Latency `json:"history_page_deep"`
	// PageCPU is the CPU time per deep page: on a busy machine, p99
	// says more about the other processes than about the page.
	PageCPU time.Duration  `json:"history_page_deep_cpu_ns"`
	TUIPgUp report.Latency `json:"tui_pgup"`
}

// Search is one timed query.
type Search struct {
	Query string         `json:"query"`
	Hits  int            `json:"hits"`
	Time  report.Latency `json:"time"`
}

// corpus makes the texts: words drawn Zipf-like from a fixed vocabulary
// (a few real common words first, then made-up words of 2-4 syllables),
// so that common words match many messages and rare ones few, as in real
// chat.
type corpus struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	words []string
}

var commonWords = strings.Fields(`the you to and it is that of in for on me my have be we was with so but not are just
	at do this what no if can all get like know up out will about one how when now they there think time see good go
	ok yes lol too going really then here want back did tomorrow today meeting coffee lunch later tonight`)

var syllables = strings.Fields("ka lo mi ne ru ta po si da fe gu hi jo ve la mo ni be ra te so pa de fu ga")

// The vocabulary is the same in every corpus (so that the same words are
// searched in databases of different sizes); seed picks the texts.
func newCorpus(seed uint64) *corpus {
	rng := rand.New(rand.NewPCG(1, 1))
	words := append([]string(nil), commonWords...)
	seen := map[string]bool{}
	for _, w := range words {
		seen[w] = true
	}
	for len(words) < vocabulary {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	rng = rand.New(rand.NewPCG(seed, 2))
	return &corpus{rng: rng, zipf: rand.NewZipf(rng, 1.07, 2, vocabulary-1), words: words}
}

// text is one message: 1-30 words, most of them short.
func (c *corpus) text() string {
	n := 1 + min(int(c.rng.ExpFloat64()*7), 29)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.words[c.zipf.Uint64()])
	}
	return b.String()
}

// build writes n messages over convs conversations to a new database at
// path, oldest first, spread over the two years before now; it returns
// the Seqs of conversation 0's messages, oldest first.
func build(path string, n, convs int, out *Stored) ([]int64, error) {
	st, err := sqlite.Open(path, sqlite.Options{History: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := newCorpus(uint64(n))
	peers := make([]string, convs)
	nicks := make([]string, convs)
	for i := range peers {
		peers[i] = "id:" + fmt.Sprintf("%064x", i+1) // the shape of a peer ID, not a real key
		nicks[i] = fmt.Sprintf("friend%d", i+1)
	}
	now := time.Now()
	first := now.Add(-2 * 365 * 24 * time.Hour)
	step := now.Sub(first) / time.Duration(n+1)
	var seqs0 []int64
	var textBytes int
	batch := make([]store.Message, 0, buildBatch)
	started := time.Now()
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < buildBatch; i++ {
			// Conversation 0 is the busiest: a third of everything.
			k := c.rng.IntN(convs + convs/2)
			if k >= convs {
				k = 0
			}
			at := first.Add(time.Duration(i+1) * step)
			m := store.Message{ID: app.NewMessageID(), Conv: store.ConvID(peers[k]), Peer: peers[k], From: nicks[k],
				Text: c.text(), Sent: at.Truncate(time.Second), At: at, State: store.Read}
			if c.rng.IntN(2) == 0 {
				m.Outgoing, m.From, m.State, m.Attempts = true, "me", store.Delivered, 1
			}
			if n-i <= 20 && !m.Outgoing {
				m.State = store.Received // a few unread at the end
			}
			textBytes += len(m.Text)
			batch = append(batch, m)
		}
		added, err := st.Append(batch)
		if err != nil {
			return nil, err
		}
		for _, m := range added {
			if m.Conv == store.ConvID(peers[0]) {
				seqs0 = append(seqs0, m.Seq)
			}
		}
	}
	out.AppendPerSecond = float64(n) / time.Since(started).Seconds()
	out.MeanText = float64(textBytes) / float64(n)
	return seqs0, st.Close()
}

// measureStored builds a database of n messages and measures it.
func measureStored(ctx context.Context, dir string, n, convs int, progress io.Writer) (*Stored, error) {
	d, err := os.MkdirTemp(dir, fmt.Sprintf("stored-%d-", n))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(d)
	path := filepath.Join(d, "parlance.db")
	out := &Stored{Messages: n}
	start := time.Now()
	seqs0, err := build(path, n, convs, out)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	fmt.Fprintf(progress, "storage: built %d messages in %v\n", n, time.Since(start).Round(100*time.Millisecond))
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	out.FileBytes = fi.Size()
	out.BytesPerMessage = float64(fi.Size()) / float64(n)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	tr, err := transport.Listen(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	// The TUI draws in true colour, as in a modern terminal.
	lipgloss.DefaultRenderer().SetColorProfile(termenv.TrueColor)

	var warm, cold []time.Duration
	for round := range 2 * openRounds {
		isCold := round%2 == 1
		if isCold {
			if err := dropCache(path); err != nil {
				return nil, err
			}
		}
		took, err := firstFrame(path, id, tr)
		if err != nil {
			return nil, fmt.Errorf("first frame: %w", err)
		}
		if isCold {
			cold = append(cold, took)
		} else {
			warm = append(warm, took)
		}
	}
	out.FirstFrame, out.FirstFrameCold = report.LatencyOf(warm), report.LatencyOf(cold)

	st, err := sqlite.Open(path, sqlite.Options{History: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := newCorpus(uint64(n)) // the same vocabulary
	for _, q := range []string{c.words[1], c.words[200], c.words[3000], c.words[1] + " " + c.words[60], c.words[150][:3]} {
		s := Search{Query: q}
		var ds []time.Duration
		for range searchRounds {
			t := time.Now()
			hits, err := st.Search(q, searchLimit)
			if err != nil {
				return nil, fmt.Errorf("search %q: %w", q, err)
			}
			ds = append(ds, time.Since(t))
			s.Hits = len(hits)
		}
		s.Time = report.LatencyOf(ds)
		out.Searches = append(out.Searches, s)
	}

	// Pages deep in the oldest tenth of conversation 0.
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	oldest := seqs0[:max(len(seqs0)/10, 1)]
	var pages []time.Duration
	cpu0, err := cpuTime()
	if err != nil {
		return nil, err
	}
	for range pageRounds {
		before := oldest[rng.IntN(len(oldest))]
		t := time.Now()
		if _, err := st.History(store.ConvID(seqsConv), before, pageSize); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		pages = append(pages, time.Since(t))
	}
	out.Page = report.LatencyOf(pages)
	cpu, err := cpuTime()
	if err != nil {
		return nil, err
	}
	out.PageCPU = (cpu - cpu0) / pageRounds

	if out.TUIPgUp, err = pgUp(path, id, tr); err != nil {
		return nil, fmt.Errorf("TUI PgUp: %w", err)
	}
	return out, st.Close()
}

// seqsConv is conversation 0 (see build).
var seqsConv = "id:" + fmt.Sprintf("%064x", 1)

// openUI opens the store, makes the node and the model and draws the
// first frame, as cmd/parlance does before a user sees anything.
func openUI(path string, id *identity.Identity, tr *transport.Transport) (tea.Model, store.Store, string, error) {
	st, err := sqlite.Open(path, sqlite.Options{History: true})
	if err != nil {
		return nil, nil, "", err
	}
	node, err := app.NewNode(app.Config{Nickname: "me", Identity: id, Transport: tr, Store: st})
	if err != nil {
		st.Close()
		return nil, nil, "", err
	}
	var m tea.Model = tui.New(node, tui.Options{NoBlink: true})
	m, _ = m.Update(tea.WindowSizeMsg{Width: 120, Height: 35})
	return m, st, m.View(), nil
}

// firstFrame times openUI.
func firstFrame(path string, id *identity.Identity, tr *transport.Transport) (time.Duration, error) {
	t := time.Now()
	_, st, frame, err := openUI(path, id, tr)
	took := time.Since(t)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !strings.Contains(frame, "friend") {
		return 0, fmt.Errorf("the first frame lists no stored conversation:\n%s", frame)
	}
	return took, st.Close()
}

// pgUp opens the UI and times PgUp presses from the newest page up.
func pgUp(path string, id *identity.Identity, tr *transport.Transport) (report.Latency, error) {
	m, st, _, err := openUI(path, id, tr)
	if err != nil {
		return report.Latency{}, err
	}
	defer st.Close()
	var ds []time.Duration
	for range pgUpSteps {
		t := time.Now()
		m, _ = m.Update(tea.KeyMsg{Type: tea.KeyPgUp})
		_ = m.View()
		ds = append(ds, time.Since(t))
	}
	return report.LatencyOf(ds), st.Close()
}

// dropCache drops the file's pages from the page cache, as after a
// reboot (without root: fsync, then posix_fadvise DONTNEED).
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("drop %s from the page cache: %w", path, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop %s from the page cache: %w", path, err)
	}
	return nil
}
