package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/doctor"
)

func TestDoctorJSON(t *testing.T) {
	code, out, errs := runObs(t, "doctor", "--json")
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bad json (%v): %s %s", err, out, errs)
	}
	want := 0
	if r.Summary.Fail > 0 {
		want = 1
	}
	if code != want {
		t.Errorf("exit %d with %d failed checks, want %d", code, r.Summary.Fail, want)
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != strings.Join(doctor.Names(), ",") {
		t.Errorf("checks %v, want %v", names, doctor.Names())
	}
	if r.Summary.OK+r.Summary.Warn+r.Summary.Fail != len(r.Checks) {
		t.Errorf("summary %+v does not add up to %d checks", r.Summary, len(r.Checks))
	}
}

func TestDoctorTableAndStrict(t *testing.T) {
	code, out, _ := runObs(t, "doctor")
	for _, n := range doctor.Names() {
		if !strings.Contains(out, "\n"+n+" ") {
			t.Errorf("table lacks a %s row:\n%s", n, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour escapes when not on a terminal")
	}
	scode, sout, _ := runObs(t, "doctor", "--strict")
	if strings.Contains(out, " warn ") || strings.Contains(out, " fail ") {
		if scode != 1 {
			t.Errorf("--strict with warnings or failures: exit %d, want 1\n%s", scode, sout)
		}
	} else if scode != code {
		t.Errorf("--strict with all ok: exit %d, plain %d", scode, code)
	}
	if code, _, _ := runObs(t, "doctor", "extra"); code != 2 {
		t.Errorf("doctor with an argument: exit %d, want 2", code)
	}
}
