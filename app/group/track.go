package group

import "slices"

// SeqRange is an inclusive range of message sequence numbers.
type SeqRange struct{ From, To uint64 }

// seqTrack records which sequence numbers of one sender are stored, as
// sorted, disjoint, non-adjacent ranges, to tell what is missing. It never
// decides whether a message is new (the Store does, by id and by sender
// and seq), so giving up on old gaps (beyond MaxGapsPerSender) only stops
// asking for them.
type seqTrack struct{ r []SeqRange }

func (t *seqTrack) max() uint64 {
	if len(t.r) == 0 {
		return 0
	}
	return t.r[len(t.r)-1].To
}

// add records s. With maxRanges above 0, when more than maxRanges ranges
// result, the oldest gap is given up (merged away).
func (t *seqTrack) add(s uint64, maxRanges int) {
	i, _ := slices.BinarySearchFunc(t.r, s, func(r SeqRange, s uint64) int {
		switch {
		case r.To < s:
			return -1
		case r.From > s:
			return 1
		}
		return 0
	})
	// i is the first range with To >= s.
	if i < len(t.r) && t.r[i].From <= s {
		return // already there
	}
	joinPrev := i > 0 && t.r[i-1].To+1 == s
	joinNext := i < len(t.r) && t.r[i].From == s+1
	switch {
	case joinPrev && joinNext:
		t.r[i-1].To = t.r[i].To
		t.r = slices.Delete(t.r, i, i+1)
	case joinPrev:
		t.r[i-1].To = s
	case joinNext:
		t.r[i].From = s
	default:
		t.r = slices.Insert(t.r, i, SeqRange{s, s})
	}
	if maxRanges > 0 && len(t.r) > maxRanges {
		// Give up on the oldest gap: stop asking for it.
		t.r[1].From = t.r[0].From
		t.r = slices.Delete(t.r, 0, 1)
	}
}

// gaps returns the missing ranges below the highest number seen, oldest
// first (from 1: a sender's first message is 1).
func (t *seqTrack) gaps() []SeqRange {
	var out []SeqRange
	next := uint64(1)
	for _, r := range t.r {
		if r.From > next {
			out = append(out, SeqRange{next, r.From - 1})
		}
		next = r.To + 1
	}
	return out
}
