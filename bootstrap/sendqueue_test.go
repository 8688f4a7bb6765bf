package bootstrap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// op is one step applied to a sendQueue in a table test.
type op struct {
	push   string   // a text frame of these bytes (room r1 when gen > 0)
	other  bool     // push to room r2 instead
	gen    uint64   // the room generation of a push
	feed   bool     // a peers_joined of room r1's feed (gen)
	list   int      // a placeholder for list request number list (1-based)
	fill   int      // fill placeholder fill with "list gen <gen>"
	take   int      // take with this byte budget; the result is checked against took
	took   []string // what take returns
	refuse bool     // the step must report false
}

// describe renders the queue: text frames as their bytes, peers_joined as
// "feed skip N", placeholders as "placeholder".
func describe(frames []frame) []string {
	var out []string
	for _, f := range frames {
		switch {
		case f.list != nil:
			out = append(out, "placeholder")
		case f.feed != nil:
			out = append(out, fmt.Sprintf("feed skip %d", f.feedRange.skip))
		default:
			out = append(out, string(f.data))
		}
	}
	return out
}

func TestSendQueue(t *testing.T) {
	tests := []struct {
		name      string
		maxFrames int
		maxBytes  int
		ops       []op
		want      []string
	}{
		{"frames up to the limit", 2, 1000, []op{{push: "a"}, {push: "b"}, {push: "c", refuse: true}}, []string{"a", "b"}},
		{"bytes behind the head count", 100, 10, []op{{push: "head-is-free-of-the-limit"}, {push: "12345"}, {push: "678901", refuse: true}},
			[]string{"head-is-free-of-the-limit", "12345"}},
		{"one big message passes alone", 100, 10, []op{{push: strings.Repeat("x", 50)}}, []string{strings.Repeat("x", 50)}},
		{"frames behind a placeholder do not count", 2, 1000, []op{{list: 1}, {push: "a"}, {push: "b"}, {push: "c"}},
			[]string{"placeholder", "a", "b", "c"}},
		{"fill drops the pushes the list shows, and only those", 100, 1000, []op{
			{list: 1}, {push: "join gen 5", gen: 5}, {push: "other room", other: true, gen: 1}, {push: "join gen 7", gen: 7},
			{push: "join gen 8", gen: 8}, {list: 2}, {push: "after second list, gen 6", gen: 6}, {fill: 1, gen: 7}},
			[]string{"list gen 7", "other room", "join gen 8", "placeholder", "after second list, gen 6"}},
		{"fill keeps a peers_joined, which skips what the list shows", 100, 1000, []op{{list: 1}, {feed: true, gen: 1}, {push: "left", gen: 2}, {fill: 1, gen: 2}},
			[]string{"list gen 2", "feed skip 2"}},
		{"take stops at a placeholder and at the budget", 100, 1000, []op{
			{push: "aaaa"}, {push: "bbbb"}, {push: "cccc"}, {list: 1}, {push: "d"},
			{take: 8, took: []string{"aaaa", "bbbb"}}, {take: 1, took: []string{"cccc"}}},
			[]string{"placeholder", "d"}},
		{"take stops before a peers_joined", 100, 1000, []op{{push: "a"}, {feed: true, gen: 1}, {push: "b"},
			{take: 100, took: []string{"a"}}, {take: 100, took: []string{"feed skip 0", "b"}}}, nil},
		{"take gives a big head alone", 100, 1000, []op{{push: strings.Repeat("x", 20)}, {push: "y"}, {take: 4, took: []string{strings.Repeat("x", 20)}}},
			[]string{"y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &sendQueue{maxFrames: tc.maxFrames, maxBytes: tc.maxBytes}
			r1, r2 := &room{}, &room{}
			reqs := map[int]*listReq{}
			for i, o := range tc.ops {
				ok := true
				switch {
				case o.push != "":
					f := frame{kind: textFrame, data: []byte(o.push), size: len(o.push)}
					if o.gen > 0 {
						f.room, f.gen = r1, o.gen
						if o.other {
							f.room = r2
						}
					}
					ok = q.push(f)
				case o.feed:
					ok = q.push(frame{kind: textFrame, feed: &joinFeed{}, room: r1, gen: o.gen})
				case o.list > 0:
					reqs[o.list] = &listReq{r: r1}
					ok = q.push(frame{kind: textFrame, list: reqs[o.list]})
				case o.fill > 0:
					b := []byte("list gen " + string(rune('0'+o.gen)))
					ok = q.fill(reqs[o.fill], b, nil, o.gen)
				case o.take > 0:
					if got := describe(q.take(o.take)); !slices.Equal(got, o.took) {
						t.Errorf("step %d: took %q, want %q", i, got, o.took)
					}
				}
				if ok == o.refuse {
					t.Fatalf("step %d (%+v): reported %v", i, o, ok)
				}
			}
			if got := describe(q.frames); !slices.Equal(got, tc.want) {
				t.Errorf("queue %q, want %q", got, tc.want)
			}
			size := 0
			for _, f := range q.frames {
				size += f.size
			}
			if q.bytes != size {
				t.Errorf("queue counts %d bytes, its frames hold %d", q.bytes, size)
			}
		})
	}
}
