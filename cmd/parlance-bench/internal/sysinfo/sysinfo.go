// Package sysinfo reads what parlance-bench needs from the operating
// system (Linux): the machine's description, a process's memory and CPU
// time from /proc, and the open-file limit.
package sysinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

// Machine describes this machine.
func Machine() report.Machine {
	m := report.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CPUModel: "unknown", Kernel: "unknown"}
	if v := firstField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if kb := firstField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.MemoryGiB = int((n + 1<<19) >> 20)
		}
	}
	return m
}

// firstField returns the value of the first "key: value" line of a /proc
// file whose key is key, or "".
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// LoadAverage returns the 1-minute load average (0 if unknown).
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// CPUSample is a reading of the machine's and this process's CPU time,
// to tell how busy other processes kept the machine between two readings.
type CPUSample struct {
	busy, total time.Duration // the machine's, from /proc/stat
	own         time.Duration // this process and its reaped children
}

// SampleCPU reads the CPU counters.
func SampleCPU() (CPUSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUSample{}, fmt.Errorf("read cpu counters: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return CPUSample{}, errors.New("read cpu counters: malformed /proc/stat")
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return CPUSample{}, fmt.Errorf("read cpu counters: %w", err)
		}
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	var s CPUSample
	s.busy = time.Duration(busy) * clockTick
	s.total = time.Duration(busy+v[3]+v[4]) * clockTick
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			return CPUSample{}, fmt.Errorf("read own cpu time: %w", err)
		}
		s.own += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

// OthersPercent is the share of the machine's CPU capacity that other
// processes used between s and a later sample.
func (s CPUSample) OthersPercent(later CPUSample) float64 {
	total := later.total - s.total
	if total <= 0 {
		return 0
	}
	others := (later.busy - s.busy) - (later.own - s.own)
	return max(0, 100*float64(others)/float64(total))
}

// RSS returns the resident set size of process pid, in bytes.
func RSS(pid int) (int64, error) {
	v := firstField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	if v == "" {
		return 0, fmt.Errorf("read VmRSS of process %d: not found", pid)
	}
	f := strings.Fields(v) // "12345 kB"
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("read VmRSS of process %d: bad value %q", pid, v)
	}
	return n << 10, nil
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture.
const clockTick = 10 * time.Millisecond

// CPUTime returns the CPU time (user + system) process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("read cpu time: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, errors.New("read cpu time: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// RaiseFileLimit raises this process's open-file limit (soft, and hard if
// need be and allowed) to at least want, capped by the kernel's nr_open.
// It returns the soft limit in force afterwards; an error says why it is
// lower than want. Child processes inherit the limit.
func RaiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open-file limit: %w", err)
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && want > n {
			want = n
		}
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err == nil {
		return want, nil
	}
	// Not allowed to raise the hard limit (not root): go as far as it.
	next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		return lim.Cur, fmt.Errorf("raise open-file limit to %d: %w", want, err)
	}
	return lim.Max, fmt.Errorf("open-file limit is %d, not %d: raising the hard limit needs privileges", lim.Max, want)
}
