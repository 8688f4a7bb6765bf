package tuibench

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/parlance-chat/parlance/tui
cpu: AMD EPYC
BenchmarkKeystroke/history=1000-2         	   16153	     72370 ns/op	   68540 B/op	     481 allocs/op
BenchmarkIncomingMessage/history=100000/in_view-2       	   16542	     72479.5 ns/op	   68210 B/op	     497 allocs/op
BenchmarkNoMem 	   100	     12 ns/op
PASS
ok  	github.com/parlance-chat/parlance/tui	11.154s
`
	got, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "BenchmarkKeystroke/history=1000", Iterations: 16153, NsPerOp: 72370, BytesPerOp: 68540, AllocsPerOp: 481},
		{Name: "BenchmarkIncomingMessage/history=100000/in_view", Iterations: 16542, NsPerOp: 72479.5, BytesPerOp: 68210, AllocsPerOp: 497},
		{Name: "BenchmarkNoMem", Iterations: 100, NsPerOp: 12},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseNothing(t *testing.T) {
	if _, err := Parse(strings.NewReader("FAIL\n")); err == nil {
		t.Error("no error for output without results")
	}
}
