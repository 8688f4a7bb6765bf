// Package report holds the results of parlance-bench: rows of measured
// figures, each beside its target and its same-run baseline, printed as a
// table or written as JSON.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is a goal a figure is checked against.
type Target struct {
	Op    string  `json:"op"`    // "<", "<=", ">" or ">="
	Value float64 `json:"value"` // in the row's unit
	// Text shows the target when it is not just Op and Value in the
	// row's unit (e.g. "< 1.5×(a)").
	Text string `json:"text,omitempty"`
}

// Met reports whether v meets the target.
func (t Target) Met(v float64) bool {
	switch t.Op {
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	}
	return false
}

// Row is one measured figure.
type Row struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Target   *Target `json:"target,omitempty"`
	// Baseline is the same figure for the baseline of the scenario,
	// measured in the same run; BaselineOf says what that baseline is.
	Baseline   *float64 `json:"baseline,omitempty"`
	BaselineOf string   `json:"baseline_of,omitempty"`
	// Ratio is Value / Baseline.
	Ratio *float64 `json:"ratio,omitempty"`
	// Status is "met", "missed" or "" (no target).
	Status string `json:"status,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Status values.
const (
	Met    = "met"
	Missed = "missed"
)

// NewRow makes a row and checks it against target (which may be nil).
func NewRow(scenario, metric string, value float64, unit string, target *Target) Row {
	r := Row{Scenario: scenario, Metric: metric, Value: value, Unit: unit, Target: target}
	if target != nil {
		r.Status = Missed
		if target.Met(value) {
			r.Status = Met
		}
	}
	return r
}

// WithBaseline sets the row's baseline (of the named kind) and the ratio.
func (r Row) WithBaseline(of string, baseline float64) Row {
	r.Baseline = &baseline
	r.BaselineOf = of
	if baseline != 0 {
		ratio := r.Value / baseline
		r.Ratio = &ratio
	}
	return r
}

// WithNote attaches a short note.
func (r Row) WithNote(note string) Row {
	r.Note = note
	return r
}

// Report is the outcome of a run.
type Report struct {
	Machine  Machine       `json:"machine"`
	Command  string        `json:"command"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Rows     []Row         `json:"rows"`
	// Notes explain how each scenario measures, per scenario.
	Notes map[string][]string `json:"notes,omitempty"`
	// Errors are scenarios that failed or were skipped, with why.
	Errors []string `json:"errors,omitempty"`
	// Details holds extra figures per scenario, for the JSON only.
	Details map[string]any `json:"details,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	MemoryGiB int    `json:"memory_gib"`
	// Load is the 1-minute load average at the start and at the end of
	// the run: other busy processes make every figure noisier.
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
	// OthersCPU is the share of the machine's CPU that other processes
	// used during the run, in percent (-1: unknown).
	OthersCPU float64 `json:"others_cpu_percent"`
}

// Add appends rows.
func (r *Report) Add(rows ...Row) { r.Rows = append(r.Rows, rows...) }

// Note adds a note to a scenario.
func (r *Report) Note(scenario, format string, args ...any) {
	if r.Notes == nil {
		r.Notes = map[string][]string{}
	}
	r.Notes[scenario] = append(r.Notes[scenario], fmt.Sprintf(format, args...))
}

// Detail stores an extra value for the JSON.
func (r *Report) Detail(key string, v any) {
	if r.Details == nil {
		r.Details = map[string]any{}
	}
	r.Details[key] = v
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteTable prints the machine, the command, the table and the notes.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs, %s, %d GiB, %s, %s\n", m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "load average (1 min): %.2f at the start, %.2f at the end", m.LoadStart, m.LoadEnd)
	if m.OthersCPU >= 0 {
		fmt.Fprintf(w, "; other processes used %.1f%% of the CPU during the run", m.OthersCPU)
		if m.OthersCPU > 5 {
			fmt.Fprint(w, " (the figures are noisier than on an idle machine)")
		}
	}
	fmt.Fprintf(w, "\ncommand: %s\n", r.Command)
	fmt.Fprintf(w, "started: %s, took %s\n\n", r.Started.Format(time.RFC3339), r.Duration.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMETRIC\tMEASURED\tTARGET\tBASELINE\tRATIO\tSTATUS\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			row.Scenario, row.Metric, FormatValue(row.Value, row.Unit), row.targetText(),
			row.baselineText(), row.ratioText(), row.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nRATIO is measured ÷ baseline (both from this run).")
	var notes []string
	for _, row := range r.Rows {
		if row.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s / %s: %s", row.Scenario, row.Metric, row.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nRow notes:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	scenarios := make([]string, 0, len(r.Notes))
	for s := range r.Notes {
		scenarios = append(scenarios, s)
	}
	slices.Sort(scenarios)
	for _, s := range scenarios {
		fmt.Fprintf(w, "\n%s:\n", s)
		for _, n := range r.Notes[s] {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nErrors and skipped scenarios:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  - %s\n", e)
		}
	}
	return nil
}

func (r Row) targetText() string {
	if r.Target == nil {
		return ""
	}
	if r.Target.Text != "" {
		return r.Target.Text
	}
	return r.Target.Op + " " + FormatValue(r.Target.Value, r.Unit)
}

func (r Row) baselineText() string {
	if r.Baseline == nil {
		return ""
	}
	s := FormatValue(*r.Baseline, r.Unit)
	if r.BaselineOf != "" {
		s += " (" + r.BaselineOf + ")"
	}
	return s
}

func (r Row) ratioText() string {
	if r.Ratio == nil {
		return ""
	}
	return FormatNumber(*r.Ratio) + "×"
}

// FormatValue shows v with its unit, with a precision that suits it.
func FormatValue(v float64, unit string) string {
	s := FormatNumber(v)
	if unit == "" {
		return s
	}
	if unit == "%" {
		return s + "%"
	}
	return s + " " + unit
}

// FormatNumber shows v with three significant digits (whole numbers from
// 1000 up, with thousands separators).
func FormatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
