package filexfer

import (
	"fmt"
	"sync"
	"time"
)

// meter turns byte counts into a rate and an ETA. Guarded by Engine.mu.
type meter struct {
	lastAt    time.Time
	lastBytes int64
	rate      float64 // bytes a second, smoothed
	emitted   time.Time
}

// update records done bytes at now and reports whether a progress event
// is due (every `every`, and always at the end).
func (m *meter) update(now time.Time, done, size int64, every time.Duration) bool {
	if m.lastAt.IsZero() {
		m.lastAt, m.lastBytes = now, done
		return false
	}
	if dt := now.Sub(m.lastAt); dt >= every/2 && dt > 0 {
		inst := float64(done-m.lastBytes) / dt.Seconds()
		if m.rate == 0 {
			m.rate = inst
		} else {
			m.rate = 0.6*m.rate + 0.4*inst
		}
		m.lastAt, m.lastBytes = now, done
	}
	if done >= size || now.Sub(m.emitted) >= every {
		m.emitted = now
		return true
	}
	return false
}

// reset starts measuring afresh (a new connection).
func (m *meter) reset() { *m = meter{} }

func (m *meter) eta(done, size int64) time.Duration {
	if m.rate <= 0 || done >= size {
		return 0
	}
	return time.Duration(float64(size-done) / m.rate * float64(time.Second)).Round(time.Second)
}

// Throttle lets through at most one progress event per transfer every
// Every (line mode: a second), and every other event.
type Throttle struct {
	Every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

// Allow reports whether ev should be shown at now.
func (t *Throttle) Allow(ev Event, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[string]time.Time)
	}
	if ev.Kind != EventProgress {
		delete(t.last, ev.Transfer.ID)
		return true
	}
	if last, ok := t.last[ev.Transfer.ID]; ok && now.Sub(last) < t.Every {
		return false
	}
	t.last[ev.Transfer.ID] = now
	return true
}

// FormatProgress is a one-line summary of a transfer in progress:
// "photo.jpg: 12.0 MB of 50.0 MB (24%), 8.1 MB/s, 5s left".
func FormatProgress(tr Transfer) string {
	pct := 100.0
	if tr.Size > 0 {
		pct = float64(tr.Done) * 100 / float64(tr.Size)
	}
	s := fmt.Sprintf("%s: %s of %s (%.0f%%)", tr.Name, FormatBytes(tr.Done), FormatBytes(tr.Size), pct)
	if tr.Rate > 0 {
		s += fmt.Sprintf(", %s/s", FormatBytes(int64(tr.Rate)))
	}
	if tr.ETA > 0 {
		s += fmt.Sprintf(", %s left", tr.ETA)
	}
	return s
}

// FormatBytes shows a size in decimal units: "950 B", "12.0 MB".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// ShortID is the start of a transfer id that UIs show (8 hex digits).
func ShortID(id string) string { return id[:min(8, len(id))] }

// FormatEvent is a one-line description of an event, for line mode:
// "offer 1a2b3c4d: photo.jpg (2.1 MB) from the peer: /accept 1a2b3c4d or
// /reject 1a2b3c4d", "1a2b3c4d photo.jpg: saved to …, SHA-256 verified".
// The caller names the peer.
func FormatEvent(ev Event) string {
	t := ev.Transfer
	id := ShortID(t.ID)
	switch ev.Kind {
	case EventOffered:
		if t.Dir == Receive {
			return fmt.Sprintf("offer %s: %s (%s): /accept %s or /reject %s", id, t.Name, FormatBytes(t.Size), id, id)
		}
		return fmt.Sprintf("offered %s: %s (%s), waiting for an answer", id, t.Name, FormatBytes(t.Size))
	case EventStarted:
		if t.Done > 0 {
			return fmt.Sprintf("%s %s: resumed at %s of %s", id, t.Name, FormatBytes(t.Done), FormatBytes(t.Size))
		}
		return fmt.Sprintf("%s %s: started (%s)", id, t.Name, FormatBytes(t.Size))
	case EventProgress:
		return id + " " + FormatProgress(t)
	case EventDone:
		if t.Dir == Receive {
			return fmt.Sprintf("%s %s: saved to %s, SHA-256 verified", id, t.Name, t.Path)
		}
		return fmt.Sprintf("%s %s: delivered, SHA-256 verified by the receiver", id, t.Name)
	case EventRejected:
		return fmt.Sprintf("%s %s: rejected (%s)", id, t.Name, t.Error)
	case EventCancelled:
		return fmt.Sprintf("%s %s: cancelled (%s)", id, t.Name, t.Error)
	case EventQueued:
		return fmt.Sprintf("queued %s: %s (%s), %s; /cancel %s", id, t.Name, FormatBytes(t.Size), t.Error, id)
	case EventExpired:
		return fmt.Sprintf("%s %s: expired (%s)", id, t.Name, t.Error)
	default:
		return fmt.Sprintf("%s %s: failed: %s", id, t.Name, t.Error)
	}
}
