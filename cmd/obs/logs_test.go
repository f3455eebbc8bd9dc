package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/output"
)

const logsData = "../../logfmt/testdata/"

func runLogsIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	io := output.Buffer(&out, &errb)
	io.In = strings.NewReader(stdin)
	g := &globals{io: io}
	code := run(append([]string{"logs"}, args...), g)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name string) string {
	b, err := os.ReadFile(logsData + "golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLogsModesMatchGoldens(t *testing.T) {
	t.Setenv("BUNYAN_NO_COLOR", "")
	for _, c := range []struct {
		args   []string
		golden string
	}{
		{[]string{"-o", "json-4"}, "withreq.log.json4"},
		{[]string{"-j"}, "withreq.log.json"},
		{[]string{"-0"}, "withreq.log.bunyan"},
		{[]string{"-0", "-j"}, "withreq.log.json"},
		{[]string{"-o", "json-4", "-0"}, "withreq.log.bunyan"},
		{[]string{"-j", "-o", "inspect"}, "withreq.log.inspect"},
		{[]string{"-o", "short"}, "withreq.log.short"},
		{[]string{"-o", "simple"}, "all.log.simple"},
		{[]string{"--strict"}, "all.log.strict"},
		{[]string{"-l", "warn"}, "all.log.warn"},
		{[]string{"-l", "35"}, "all.log.level35"},
		{[]string{"--color"}, "all.log.color"},
		{nil, "log1.log.gz.long"},
	} {
		file := strings.SplitN(c.golden, ".log", 2)[0] + ".log"
		if strings.Contains(c.golden, ".gz.") {
			file += ".gz"
		}
		code, out, errs := runLogsIn(t, "", append(c.args, logsData+"corpus/"+file)...)
		if code != 0 || out != golden(t, c.golden) {
			t.Errorf("%v %s: exit %d, stderr %q, output differs from bunyan's (%d vs %d bytes)", c.args, file, code, errs, len(out), len(golden(t, c.golden)))
		}
	}
}

func TestLogsStdin(t *testing.T) {
	in, _ := os.ReadFile(logsData + "corpus/all.log")
	code, out, _ := runLogsIn(t, string(in))
	if code != 0 || out != golden(t, "all.log.long") {
		t.Errorf("stdin: exit %d, output differs", code)
	}
}

func TestLogsExitCodes(t *testing.T) {
	code, out, errs := runLogsIn(t, "", "no-such-1.log", logsData+"corpus/simple.log", "no-such-2.log")
	if code != 2 || !strings.Contains(out, "My message") || strings.Count(errs, "no such file") != 2 {
		t.Errorf("two missing files: exit %d (bunyan: 2), out %q, err %q", code, out, errs)
	}
	for _, args := range [][]string{{"-o", "fancy"}, {"-l", "loud"}, {"-c", "this.x >"}, {"--time", "mars"}, {"--since", "yesterday-ish"}} {
		code, _, errs := runLogsIn(t, "", append(args, logsData+"corpus/simple.log")...)
		if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, errs)
		}
	}
	code, _, errs = runLogsIn(t, "", "-p", "x")
	if code != 2 {
		t.Errorf("-p x: exit %d %q", code, errs)
	}
	code, _, errs = runLogsIn(t, "", "-p", "1", "file.log")
	if code != 2 {
		t.Errorf("-p with files: exit %d %q", code, errs)
	}
}

func TestLogsConditionsAndLevel(t *testing.T) {
	code, out, _ := runLogsIn(t, "", "--strict", "-c", "this.level >= WARN", "-c", `this.msg.indexOf("My") === 0`, "-o", "simple", logsData+"corpus/all.log")
	if code != 0 || out != "WARN - My message\nERROR - My message\nLVL55 - My message\nFATAL - My message\n" {
		t.Errorf("conditions: exit %d, %q", code, out)
	}
}

func TestLogsStatsJSON(t *testing.T) {
	code, out, _ := runLogsIn(t, "", "--stats", "--json", logsData+"corpus/all.log")
	var st struct {
		Lines, Records, Shown, Other int
		ByLevel                      map[string]int `json:"by_level"`
		ByName                       map[string]int `json:"by_name"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %q", code, err, out)
	}
	if st.Lines != 20 || st.Records != 13 || st.Shown != 13 || st.Other != 7 || st.ByLevel["INFO"] != 7 || st.ByLevel["LVL55"] != 1 || st.ByName["myservice"] != 13 {
		t.Errorf("stats: %+v", st)
	}
	code, out, _ = runLogsIn(t, "", "--stats", logsData+"corpus/all.log")
	if code != 0 || !strings.Contains(out, "LVL55") || !strings.Contains(out, "myservice") {
		t.Errorf("stats table: %q", out)
	}
}

func TestLogsSinceUntil(t *testing.T) {
	code, out, _ := runLogsIn(t, "", "--since", "2012-02-08T22:56:53Z", "--until", "2012-02-08T22:56:55Z", "--strict", "-o", "simple", logsData+"corpus/all.log")
	if code != 0 || out != "WARN - My message\nERROR - My message\n" {
		t.Errorf("since/until: exit %d %q", code, out)
	}
}

func TestLogsDetect(t *testing.T) {
	in := strings.Join([]string{
		`{"level":30,"time":1700000000123,"pid":7,"hostname":"ph","msg":"from pino","reqId":1}`,
		`{"level":"warn","ts":1700000000.5,"logger":"zl","caller":"srv/main.go:42","msg":"from zap"}`,
		`{"level":"error","msg":"from logrus","time":"2023-11-14T23:13:20+01:00","user":"u"}`,
		`{"time":"2023-11-14T22:13:20.25Z","level":"INFO+2","msg":"from slog","source":{"function":"main.f","file":"/m.go","line":9}}`,
	}, "\n") + "\n"
	code, out, _ := runLogsIn(t, in, "--detect")
	want := `[2023-11-14T22:13:20.123Z]  INFO: -/7 on ph: from pino (reqId=1)
[2023-11-14T22:13:20.500Z]  WARN: zl/0 on <no-hostname> (srv/main.go:42): from zap
[2023-11-14T22:13:20.000Z] ERROR: -/0 on <no-hostname>: from logrus (user=u)
[2023-11-14T22:13:20.250Z] LVL35: -/0 on <no-hostname> (/m.go:9 in main.f): from slog
`
	if code != 0 || out != want {
		t.Errorf("detect: exit %d\n%s\nwant\n%s", code, out, want)
	}
	// Without --detect they pass through, as bunyan passes them.
	_, out, _ = runLogsIn(t, in)
	if out != in {
		t.Errorf("without --detect: %q", out)
	}
}

func TestLogsMergeGz(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile(logsData + "corpus/log2.log")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(src)
	zw.Close()
	p := filepath.Join(dir, "log2.log.gz")
	os.WriteFile(p, gz.Bytes(), 0o644)
	code, out, _ := runLogsIn(t, "", logsData+"corpus/log1.log", p)
	if code != 0 || out != golden(t, "merge-log1-log2.long") {
		t.Errorf("merge with .gz: exit %d, differs", code)
	}
}
