package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// TestChatFlowsDuringTransfer: chat keeps flowing while a file moves
// between the same two peers. alice sends a message every 2 ms from the
// moment bob's download starts until it ends; every message reaches bob
// once and in order, and some reach him before the download ends. The
// latency is logged, not asserted: the 10 ms p99 target is measured by
// BenchmarkChatLatencyTwoProcesses (net/filexfer), away from the race
// detector and a loaded CI machine.
func TestChatFlowsDuringTransfer(t *testing.T) {
	alice, bob, bobKey, _, _, _ := filesPair(t, nil)
	path, _ := writeRandom(t, "big.bin", 64<<20)
	if _, err := alice.SendFile(context.Background(), bobKey, path); err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	offer := waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if _, err := bob.AcceptFile(filexfer.ShortID(offer.Transfer.ID)); err != nil {
		t.Fatalf("AcceptFile: %v", err)
	}
	waitFor(t, bob, "the download's start", transferEvent(filexfer.EventStarted, filexfer.Receive))

	var (
		mu     sync.Mutex
		sentAt []time.Time
		stop   = make(chan struct{})
		chat   sync.WaitGroup
	)
	chat.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			mu.Lock()
			sentAt = append(sentAt, time.Now())
			mu.Unlock()
			if _, err := alice.Send(context.Background(), bobKey, fmt.Sprintf("m%d", i)); err != nil {
				t.Errorf("send m%d during the transfer: %v", i, err)
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})

	var texts []string
	var lat []time.Duration
	during := 0
	read := func() {
		ch, err := bob.Changes(bob.seen, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ch {
			bob.seen = m.Version
			if m.Outgoing {
				continue
			}
			var i int
			if _, err := fmt.Sscanf(m.Text, "m%d", &i); err != nil {
				continue
			}
			mu.Lock()
			lat = append(lat, time.Since(sentAt[i]))
			mu.Unlock()
			texts = append(texts, m.Text)
		}
	}
	deadline := time.After(60 * time.Second)
	for ended := false; !ended; {
		select {
		case e := <-bob.Events():
			if tc, ok := e.(app.TransferChanged); ok && tc.Transfer.Dir == filexfer.Receive {
				switch tc.Kind {
				case filexfer.EventDone:
					ended = true
				case filexfer.EventFailed, filexfer.EventCancelled:
					t.Fatalf("download ended %v: %s", tc.Kind, tc.Transfer.Error)
				}
			}
		case <-bob.Changed():
		case <-deadline:
			t.Fatal("the download did not end within 60 s")
		}
		read()
		if !ended {
			during = len(texts)
		}
	}
	close(stop)
	chat.Wait()
	mu.Lock()
	n := len(sentAt)
	mu.Unlock()
	waitUntil(t, bob, "every chat message", func() bool { read(); return len(texts) >= n })

	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("m%d", i)
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("bob got %d messages %v...; want m0..m%d once each, in order", len(texts), texts[:min(len(texts), 10)], n-1)
	}
	if during == 0 {
		t.Fatalf("none of %d messages arrived before the download ended", n)
	}
	slices.Sort(lat)
	t.Logf("%d messages, %d of them during the download; latency p50 %v, p99 %v, max %v",
		n, during, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
