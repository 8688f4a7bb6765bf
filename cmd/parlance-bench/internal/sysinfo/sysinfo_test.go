package sysinfo

import (
	"os"
	"testing"
)

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil || rss < 1<<20 {
		t.Errorf("RSS = %d, %v; want over 1 MiB", rss, err)
	}
	busy := 0
	for i := range 20_000_000 {
		busy += i
	}
	_ = busy
	if _, err := CPUTime(pid); err != nil {
		t.Error(err)
	}
	a, err := SampleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30_000_000 {
		busy += i
	}
	b, err := SampleCPU()
	if err != nil {
		t.Fatal(err)
	}
	if b.own <= a.own || b.total < a.total {
		t.Errorf("cpu samples %+v then %+v", a, b)
	}
	if p := a.OthersPercent(b); p < 0 || p > 100 {
		t.Errorf("others used %v%%", p)
	}
	if l := LoadAverage(); l < 0 {
		t.Errorf("load average %v", l)
	}
	m := Machine()
	if m.CPUs < 1 || m.GoVersion == "" || m.CPUModel == "" {
		t.Errorf("Machine() = %+v", m)
	}
}

func TestRaiseFileLimitKeepsAHigherLimit(t *testing.T) {
	got, err := RaiseFileLimit(16)
	if err != nil || got < 16 {
		t.Errorf("RaiseFileLimit(16) = %d, %v", got, err)
	}
}
