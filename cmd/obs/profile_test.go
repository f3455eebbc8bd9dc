package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestProfileUsageAndErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pb.gz")
	os.WriteFile(bad, []byte("not a profile"), 0o644)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"profile", "cpu"}, 2},
		{[]string{"profile", "cpu", "-p", "1", "-F", "0"}, 2},
		{[]string{"profile", "cpu", "-p", "1", "-d", "-1s"}, 2},
		{[]string{"profile", "offcpu", "-p", "1", "extra"}, 2},
		{[]string{"profile", "top"}, 2},
		{[]string{"profile", "top", "/nonexistent/x.pb.gz"}, 1},
		{[]string{"profile", "top", bad}, 1},
		{[]string{"profile", "web", bad}, 1},
		{[]string{"profile", "heap"}, 2},
		{[]string{"profile", "cpu", "-p", "999999999", "-d", "1s"}, 1},
	} {
		code, _, errs := runObs(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errs)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "obs: ") {
			t.Errorf("%v: want a one-line error, got %q", c.args, errs)
		}
	}
}

func startReady(t *testing.T, cmd *exec.Cmd, prefix string) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
		for sc.Scan() {
		}
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("fixture said %q", l)
		}
		return l
	case <-time.After(60 * time.Second):
		t.Fatal("fixture never became ready")
	}
	return ""
}

func TestProfileCPUCommand(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "leaf")
	if b, err := exec.Command("go", "build", "-o", bin, "../../probes/sample/testdata/leaf").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	cmd := exec.Command(bin)
	startReady(t, cmd, "ready")
	pid := strconv.Itoa(cmd.Process.Pid)
	file := filepath.Join(dir, "cpu.pb.gz")
	code, out, errs := runObs(t, "profile", "cpu", "-p", pid, "-d", "2s", "-F", "499", "-o", file, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep profileReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json %q: %v", out, err)
	}
	if rep.Stats.Samples == 0 || rep.Build.LeafFixed == 0 || len(rep.Top) == 0 || rep.Top[0].Function != "main.leaf" {
		t.Fatalf("report %+v", rep)
	}
	fd, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(fd)
	fd.Close()
	if err != nil || len(p.Sample) == 0 {
		t.Fatalf("profile: %v %v", err, p)
	}
	withID := false
	for _, m := range p.Mapping {
		withID = withID || (m.File == bin && m.BuildID != "")
	}
	if !withID {
		t.Errorf("no mapping of %s with a build id: %v", bin, p.Mapping)
	}
	code, out, _ = runObs(t, "profile", "top", file, "--json", "--sample-index", "samples")
	var top struct {
		Total int64
		Top   []struct{ Function string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &top) != nil || top.Total != int64(rep.Stats.Samples) {
		t.Fatalf("top: exit %d %q", code, out)
	}
	code, out, _ = runObs(t, "profile", "cpu", "-p", pid, "-d", "3s", "-F", "499", "-o", file, "--folded")
	if code != 0 || !strings.Contains(out, "main.callerA;main.leaf ") || !strings.Contains(out, "main.callerB;main.leaf ") {
		t.Fatalf("folded: exit %d %q", code, out)
	}
}

func TestProfileAgent(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "svc")
	if b, err := exec.Command("go", "build", "-o", bin, "../../repl/testdata/svc").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	cmd := exec.Command(bin)
	startReady(t, cmd, "ready ")
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, kind := range []string{"heap", "goroutine"} {
		file := filepath.Join(dir, kind+".pb.gz")
		code, out, errs := runObs(t, "profile", kind, "-p", pid, "-o", file, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, errs)
		}
		var rep struct {
			Bytes int
			Total int64
			Top   []struct{ Function string }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Bytes == 0 {
			t.Fatalf("%s: %q %v", kind, out, err)
		}
		if kind == "goroutine" && (rep.Total < 4 || len(rep.Top) == 0) {
			t.Errorf("goroutine profile: %+v", rep)
		}
		if _, err := os.Stat(file); err != nil {
			t.Error(err)
		}
	}
	// cpu through the agent's runtime profiler rather than eBPF.
	file := filepath.Join(dir, "cpu.pb.gz")
	code, out, errs := runObs(t, "profile", "cpu", "-p", pid, "--agent", "-d", "1s", "-o", file, "--json")
	if code != 0 || !strings.Contains(out, `"kind": "cpu"`) {
		t.Fatalf("cpu --agent: exit %d %s %s", code, out, errs)
	}
	if code, _, _ := runObs(t, "profile", "offcpu", "-p", pid, "--agent"); code != 2 {
		t.Errorf("offcpu --agent: exit %d, want 2", code)
	}
}

// TestProfileInterrupt sends SIGINT while `obs profile cpu -d 0` runs, as
// Ctrl-C does: it must stop, write the profile and exit 0.
func TestProfileInterrupt(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "leaf")
	if b, err := exec.Command("go", "build", "-o", bin, "../../probes/sample/testdata/leaf").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	cmd := exec.Command(bin)
	startReady(t, cmd, "ready")
	file := filepath.Join(dir, "cpu.pb.gz")
	pr, pw := io.Pipe()
	var out bytes.Buffer
	g := &globals{io: output.Buffer(&out, pw)}
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"profile", "cpu", "-p", strconv.Itoa(cmd.Process.Pid), "-d", "0", "-o", file}, g)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "profiling pid") {
		t.Fatalf("first stderr line %q", sc.Text())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(time.Second)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGINT did not end the profile")
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("profile not written: %v", err)
	}
	if !strings.Contains(out.String(), "main.leaf") {
		t.Errorf("top table lacks main.leaf:\n%s", out.String())
	}
}

// TestProfileWeb serves a profile, fetches the flame graph from the printed
// URL and stops on SIGINT.
func TestProfileWeb(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.pb.gz")
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}},
		Function:   []*profile.Function{{ID: 1, Name: "main.hot"}},
	}
	p.Location = []*profile.Location{{ID: 1, Line: []profile.Line{{Function: p.Function[0]}}}}
	p.Sample = []*profile.Sample{{Location: p.Location, Value: []int64{5}}}
	fd, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(fd); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	pr, pw := io.Pipe()
	g := &globals{io: output.Buffer(pw, io.Discard)}
	code := make(chan int, 1)
	go func() { code <- run([]string{"profile", "web", file, "--json"}, g); pw.Close() }()
	var v struct{ URL string }
	if err := json.NewDecoder(pr).Decode(&v); err != nil || !strings.HasPrefix(v.URL, "http://127.0.0.1:") {
		t.Fatalf("url %q: %v", v.URL, err)
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "main.hot") {
		t.Errorf("flame graph: %d, has main.hot: %v", resp.StatusCode, strings.Contains(string(body), "main.hot"))
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGINT did not stop the server")
	}
}
