package bootstrap

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logLimiter logs events that clients can cause at will (bad proofs,
// oversized frames, refused connections, ...) so that they cannot flood
// the log: the first event of a kind in a period is logged at the level
// asked for, the rest of the period only at Debug, and the next line of
// that kind (or flush, once the period is over) says how many were held
// back. The kind is the message text.
type logLimiter struct {
	out   *slog.Logger
	clock Clock
	every time.Duration

	mu    sync.Mutex
	kinds map[string]*logKind
}

type logKind struct {
	level slog.Level
	last  time.Time // when a line of this kind was last logged
	held  int       // events since then logged only at Debug
}

func newLogLimiter(log *slog.Logger, clock Clock, every time.Duration) *logLimiter {
	return &logLimiter{out: log, clock: clock, every: every, kinds: make(map[string]*logKind)}
}

// log logs one event of kind msg.
func (l *logLimiter) log(level slog.Level, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	k := l.kinds[msg]
	if k == nil {
		k = &logKind{level: level}
		l.kinds[msg] = k
	} else if now.Sub(k.last) < l.every {
		k.held++
		l.mu.Unlock()
		l.out.Debug(msg, args...)
		return
	}
	held := k.held
	k.last, k.held = now, 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.out.Log(context.Background(), level, msg, args...)
}

// flush reports the events held back in periods that are over, and
// forgets kinds that have been quiet for a period.
func (l *logLimiter) flush(now time.Time) {
	type line struct {
		msg   string
		level slog.Level
		held  int
	}
	var lines []line
	l.mu.Lock()
	for msg, k := range l.kinds {
		if now.Sub(k.last) < l.every {
			continue
		}
		if k.held == 0 {
			delete(l.kinds, msg)
			continue
		}
		lines = append(lines, line{msg, k.level, k.held})
		k.last, k.held = now, 0
	}
	l.mu.Unlock()
	for _, ln := range lines {
		l.out.Log(context.Background(), ln.level, ln.msg, "suppressed", ln.held)
	}
}
