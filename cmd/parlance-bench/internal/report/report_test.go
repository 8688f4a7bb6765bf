package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of three", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRowStatusAndRatio(t *testing.T) {
	tests := []struct {
		name   string
		value  float64
		target *Target
		want   string
	}{
		{"no target", 5, nil, ""},
		{"under", 5, &Target{Op: "<", Value: 10}, Met},
		{"equal is not under", 10, &Target{Op: "<", Value: 10}, Missed},
		{"at most", 10, &Target{Op: "<=", Value: 10}, Met},
		{"over", 11, &Target{Op: ">", Value: 10}, Met},
		{"not over", 9, &Target{Op: ">=", Value: 10}, Missed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRow("s", "m", tt.value, "ms", tt.target)
			if r.Status != tt.want {
				t.Errorf("status %q, want %q", r.Status, tt.want)
			}
		})
	}
	r := NewRow("s", "m", 5, "ms", nil).WithBaseline("orig", 20)
	if r.Ratio == nil || *r.Ratio != 0.25 {
		t.Errorf("ratio = %v, want 0.25", r.Ratio)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.004: "0.004", 0.5: "0.500", 3.14159: "3.14", 42.42: "42.4",
		512.6: "513", 1234.6: "1,235", 250000: "250,000", -1234567: "-1,234,567",
	} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTableAndJSON(t *testing.T) {
	r := &Report{Command: "parlance-bench --x", Started: time.Unix(0, 0)}
	r.Add(NewRow("messaging", "(a) p50", 12, "µs", &Target{Op: "<", Value: 50}).WithBaseline("(c)", 48))
	r.Note("messaging", "one-way latency")
	r.Errors = append(r.Errors, "tui: skipped")
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SCENARIO", "(a) p50", "12.0 µs", "< 50.0 µs", "48.0 µs ((c))", "0.250×", "met", "one-way latency", "tui: skipped"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 1 || back.Rows[0].Status != Met || *back.Rows[0].Ratio != 0.25 {
		t.Errorf("round trip: %+v", back.Rows)
	}
}
