package filexfer

import (
	"fmt"
	"time"
)

// sweeps runs sweep at once and then every Config.SweepEvery until the
// engine closes.
func (e *Engine) sweeps() {
	defer e.wg.Done()
	tick := time.NewTicker(e.cfg.SweepEvery)
	defer tick.Stop()
	for {
		e.sweep()
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep expires the offers queued longer than Config.QueueFor and those
// offered (either way) and unanswered for Config.OfferFor, and retries
// the other queued ones (a peer that stays online but could not be
// reached is not seen "again").
func (e *Engine) sweep() {
	now := e.cfg.Now()
	type expiry struct {
		t    *transfer
		from State
		why  string
	}
	var expire []expiry
	retry := map[string]bool{}
	e.mu.Lock()
	for _, t := range e.transfers {
		switch r := &t.rec; {
		case r.State == StateQueued && now.Sub(r.Created) >= e.cfg.QueueFor:
			expire = append(expire, expiry{t, r.State, "not delivered: the peer was not reachable within " + days(e.cfg.QueueFor)})
		case r.State == StateOffered && now.Sub(r.Updated) >= e.cfg.OfferFor:
			expire = append(expire, expiry{t, r.State, "the offer was not answered within " + days(e.cfg.OfferFor)})
		case r.State == StateQueued && !t.offering:
			retry[r.Peer] = true
		}
	}
	e.mu.Unlock()
	for _, x := range expire {
		e.transition(x.t, x.from, StateExpired, x.why, EventExpired)
	}
	for peer := range retry {
		e.retryQueued(peer)
	}
}

// days says a duration in days ("7 days"), or hours when shorter.
func days(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	}
	return d.String()
}

// retryQueued starts a goroutine, unless one runs, that delivers the
// offers queued for peer, oldest first, until one cannot be delivered. A
// call while one runs makes it try once more before it ends (the peer may
// have come back after its last dial).
func (e *Engine) retryQueued(peer string) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if _, running := e.retrying[peer]; running {
		e.retrying[peer] = true
		e.mu.Unlock()
		return
	}
	e.retrying[peer] = false
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		for e.ctx.Err() == nil {
			t := e.nextQueued(peer)
			if t != nil {
				_, err := e.deliver(e.ctx, t, false)
				if err == nil || t.snapshotLocked(e).State != StateQueued {
					continue
				}
			}
			// Nothing left, or still unreachable: the next sighting or
			// sweep tries again, unless one asked meanwhile.
			e.mu.Lock()
			again := e.retrying[peer]
			if !again {
				delete(e.retrying, peer)
				e.mu.Unlock()
				return
			}
			e.retrying[peer] = false
			e.mu.Unlock()
		}
		e.mu.Lock()
		delete(e.retrying, peer)
		e.mu.Unlock()
	}()
}

// nextQueued returns the oldest offer queued for peer that nobody is
// delivering, marked as being delivered; nil when there is none.
func (e *Engine) nextQueued(peer string) *transfer {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next *transfer
	for _, t := range e.transfers {
		if t.rec.Peer == peer && t.rec.State == StateQueued && !t.offering &&
			(next == nil || t.rec.Created.Before(next.rec.Created)) {
			next = t
		}
	}
	if next != nil {
		next.offering = true
	}
	return next
}
