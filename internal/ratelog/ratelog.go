// Package ratelog keeps a log readable while the network misbehaves: a
// Limiter logs the first line of its kind at its level, then at most one
// a period, each saying how many were held back since; the lines held
// back go to Debug.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the period the network packages and the group engine's
// drop log use.
const DefaultEvery = time.Minute

// Limiter rate-limits one kind of log line. It is safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	level slog.Level
	every time.Duration

	mu     sync.Mutex
	last   time.Time // when a line was last logged at level
	held   int       // lines logged only at Debug since then
	logged bool      // a line was logged at level
}

// New returns a Limiter that logs to log at level at most once every
// period.
func New(log *slog.Logger, level slog.Level, every time.Duration) *Limiter {
	return &Limiter{log: log, level: level, every: every}
}

// Log logs msg and args at the Limiter's level if its period has passed
// since the last such line, adding "held_back": how many lines were
// logged only at Debug in between; otherwise it logs them at Debug.
func (l *Limiter) Log(msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if l.logged && now.Sub(l.last) < l.every {
		l.held++
		l.mu.Unlock()
		l.log.Debug(msg, args...)
		return
	}
	held := l.held
	l.last, l.held, l.logged = now, 0, true
	l.mu.Unlock()
	if held > 0 {
		args = append(args[:len(args):len(args)], "held_back", held)
	}
	l.log.Log(context.Background(), l.level, msg, args...)
}
