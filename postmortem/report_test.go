package postmortem

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

func TestSummaryAndReports(t *testing.T) {
	crash := openCore(t, "", "panic")
	leak := openCore(t, "", "leak")
	ss := []*Summary{crash.Summarize(), leak.Summarize()}
	if !ss[0].Crashed || ss[0].Reason != "panic: explode on purpose: fixture error code 42" {
		t.Fatalf("panic summary %+v", ss[0])
	}
	if !ss[1].Crashed || ss[1].Leaked != 12 || ss[1].Top[0].Count != 17 || ss[1].Error != "" {
		t.Fatalf("leak summary %+v", ss[1])
	}
	var j bytes.Buffer
	if err := WriteJUnit(&j, ss); err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(j.Bytes(), &suite); err != nil {
		t.Fatalf("junit does not parse: %v\n%s", err, j.String())
	}
	if suite.Tests != 2 || suite.Failures != 2 || suite.Cases[0].Failure == nil || !strings.Contains(suite.Cases[0].Failure.Message, "explode") {
		t.Fatalf("junit %+v", suite)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, ss); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "2 core(s), 2 crashed") || !strings.Contains(md.String(), "leaked for certain: 12") {
		t.Fatalf("markdown:\n%s", md.String())
	}
}

func TestDiff(t *testing.T) {
	old := openCore(t, "", "leak")
	cur := openCore(t, "", "leak 10")
	d, err := DiffCores(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !d.SameBinary || d.Goroutines[1]-d.Goroutines[0] != 10 {
		t.Fatalf("diff %+v", d)
	}
	find := func(ls []DiffLine, sub string) *DiffLine {
		for i := range ls {
			if strings.Contains(ls[i].Key, sub) {
				return &ls[i]
			}
		}
		return nil
	}
	if b := find(d.Buckets, "main.leakOne"); b == nil || b.Old != 5 || b.New != 15 || b.Delta != 10 {
		t.Errorf("leakOne bucket %+v", b)
	}
	if find(d.Buckets, "main.waitShared") != nil {
		t.Errorf("unchanged bucket listed")
	}
	if r := find(d.Types, "main.Record"); r == nil || r.Delta != 1000 || r.NewBytes-r.OldBytes != 64000 {
		t.Errorf("Record type %+v", r)
	}
	if s := find(d.Sites, "main.makeRecords"); s == nil || s.Delta != 1000 {
		t.Errorf("makeRecords site %+v (all %v)", s, d.Sites)
	}
}
