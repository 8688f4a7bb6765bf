// Package tuibench reports the TUI's cost per keystroke and per incoming
// message by running the tui package's own go test benchmarks
// (BenchmarkKeystroke, BenchmarkIncomingMessage in tui/bench_test.go) and
// reading their output: one Update plus the View of the whole frame, as
// Bubble Tea does it, on a 120×35 screen with N messages in the selected
// conversation. Running them with `go test` keeps one definition of what
// is measured; it needs the go command and the Parlance source tree.
package tuibench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

// Scenario is the name rows carry.
const Scenario = "tui"

// Config says what to measure.
type Config struct {
	// History sizes, among those the benchmarks define (1000, 10000,
	// 100000).
	History []int
	// BenchTime is go test's -benchtime ("1s", "100x").
	BenchTime string
	// Dir is the module root; "" finds it from the working directory.
	Dir string
	// Progress receives the go test output (may be nil).
	Progress io.Writer
}

// Result is one benchmark's figures.
type Result struct {
	Name        string  `json:"name"`
	Iterations  int     `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op,omitempty"`
	AllocsPerOp float64 `json:"allocs_per_op,omitempty"`
}

// frameBudget is one frame at 60 Hz.
const frameBudget = 16 // ms

// Run runs the benchmarks and adds rows and notes to rep.
func Run(ctx context.Context, cfg Config, rep *report.Report) error {
	if len(cfg.History) == 0 {
		return errors.New("tui: no history sizes")
	}
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	sizes := make([]string, len(cfg.History))
	for i, n := range cfg.History {
		sizes[i] = strconv.Itoa(n)
	}
	args := []string{"test", "-run", "^$",
		"-bench", "^(BenchmarkKeystroke|BenchmarkIncomingMessage)$/^history=(" + strings.Join(sizes, "|") + ")$",
		"-benchmem", "-benchtime", cfg.BenchTime, "./tui"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	w := io.Writer(&out)
	if cfg.Progress != nil {
		w = io.MultiWriter(&out, cfg.Progress)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tui: go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	results, err := Parse(&out)
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	rep.Detail("tui", results)
	base := cfg.History[0]
	kinds := []struct{ label, name string }{
		{"keystroke", "BenchmarkKeystroke/history=%d"},
		{"incoming message, conversation in view", "BenchmarkIncomingMessage/history=%d/in_view"},
		{"incoming message, other conversation", "BenchmarkIncomingMessage/history=%d/other_peer"},
	}
	for _, k := range kinds {
		b, hasBase := byName[fmt.Sprintf(k.name, base)]
		for _, n := range cfg.History {
			r, ok := byName[fmt.Sprintf(k.name, n)]
			if !ok {
				return fmt.Errorf("tui: benchmark %s missing from the output", fmt.Sprintf(k.name, n))
			}
			row := report.NewRow(Scenario, fmt.Sprintf("%s, %s messages: Update+View", k.label, report.FormatNumber(float64(n))),
				r.NsPerOp/1e6, "ms", &report.Target{Op: "<", Value: frameBudget})
			if hasBase && n != base {
				row = row.WithBaseline(fmt.Sprintf("%s messages", report.FormatNumber(float64(base))), b.NsPerOp/1e6)
			}
			rep.Add(row)
		}
	}
	rep.Note(Scenario, "From the tui package's benchmarks, run as `go %s` in %s (took %s): each operation is one Update and the View of the whole 120×35 frame, in true colour, with N messages in the selected conversation.", strings.Join(args, " "), dir, time.Since(start).Round(time.Second))
	rep.Note(Scenario, "The target is one frame at 60 Hz (16 ms). The baseline is the same operation with the smallest history, so the ratio shows how the cost grows with history length (it should not).")
	return nil
}

// moduleRoot finds the Parlance module's directory from the working
// directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("tui: needs the go command to run the tui benchmarks: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("tui: run parlance-bench from the Parlance source tree (the tui benchmarks run with go test)")
	}
	dir := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(dir, "tui", "bench_test.go")); err != nil {
		return "", fmt.Errorf("tui: %s is not the Parlance source tree: %w", dir, err)
	}
	return dir, nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$`)

// Parse reads go test -bench output and returns every benchmark line.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		iters, err1 := strconv.Atoi(m[2])
		ns, err2 := strconv.ParseFloat(m[3], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("parse %q: %w", sc.Text(), err)
		}
		res := Result{Name: m[1], Iterations: iters, NsPerOp: ns}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "B/op":
				res.BytesPerOp = v
			case "allocs/op":
				res.AllocsPerOp = v
			}
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no benchmark results in the output")
	}
	return out, nil
}
