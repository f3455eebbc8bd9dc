package triage

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the report as report.md: a heading per section with its
// status, summary, what is missing and why, and its files.
func Markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# obs triage: pid %d (%s)\n\n", r.Pid, r.Comm)
	fmt.Fprintf(&b, "Collected %s UTC in %s; profiling window %s.\n\n", r.Started.Format("2006-01-02 15:04:05"),
		r.Duration.Round(100*time.Millisecond), r.Window)
	if len(r.Findings) > 0 {
		b.WriteString("## Findings\n\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("Nothing stood out (no leaks, error traces or records, limits near, or swapping found).\n\n")
	}
	b.WriteString("| section | status | files |\n|---|---|---|\n")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s |\n", s.Name, s.Name, s.Status, strings.Join(s.Files, " "))
	}
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.Name)
		fmt.Fprintf(&b, "Status: **%s** (%s)\n\n", s.Status, s.Duration.Round(time.Millisecond))
		for _, f := range s.Findings {
			fmt.Fprintf(&b, "- **%s**\n", f)
		}
		if len(s.Findings) > 0 {
			b.WriteString("\n")
		}
		if len(s.Summary) > 0 {
			b.WriteString("```\n")
			for _, l := range s.Summary {
				b.WriteString(l)
				b.WriteByte('\n')
			}
			b.WriteString("```\n")
		}
		if len(s.Missing) > 0 {
			b.WriteString("\nNot collected:\n\n")
			for _, m := range s.Missing {
				fmt.Fprintf(&b, "- %s\n", m)
			}
		}
		if len(s.Files) > 0 {
			fmt.Fprintf(&b, "\nFiles: %s\n", strings.Join(s.Files, ", "))
		}
	}
	return b.String()
}
