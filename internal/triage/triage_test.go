package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/examples/demotest"
	"github.com/obs-toolkit/obs/internal/testenv"
	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/client"
	"github.com/obs-toolkit/obs/tracing/server"
	"github.com/obs-toolkit/obs/tracing/store"
)

// The example services, built once for the package's tests.
var feBin, beBin string

var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "obs-triage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startPair(t *testing.T, dir, zipkin string, backendArgs ...string) (fe, be *demotest.Proc) {
	t.Helper()
	if feBin == "" {
		feBin, beBin = demotest.Build(t, buildDir)
	}
	return demotest.StartBuilt(t, feBin, beBin, dir, zipkin, backendArgs...)
}

// TestTriageExampleService triages the example backend while the frontend
// drives load through it, and checks every section against what the test
// itself knows about the service.
func TestTriageExampleService(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "spans"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	zs := httptest.NewServer(server.New(st, server.Config{}).Handler())
	defer zs.Close()
	fe, be := startPair(t, dir, zs.URL, "-leak")
	demotest.Load(t, fe, 12, 2000) // 12 requests: one leaked goroutine
	// One slow request and one the backend refuses, for the traces section.
	if code, _ := demotest.Get(t, fe.URL+"/api/hash?n=10&delay=300ms"); code != http.StatusOK {
		t.Fatalf("slow request: %d", code)
	}
	if code, _ := demotest.Get(t, fe.URL+"/api/hash?n=-1"); code != http.StatusBadRequest {
		t.Fatalf("refused request: %d", code)
	}
	waitErrorTrace(t, zs.URL)

	// Keep the backend busy through the window.
	stop := keepBusy(fe.URL)
	bundle := filepath.Join(dir, "bundle")
	var progress []string
	r, err := Run(context.Background(), Options{Pid: be.Pid(), Duration: 2 * time.Second, Dir: bundle,
		LogFile: be.Log, LogLines: 20, TracesURL: zs.URL, Progress: func(s string) { progress = append(progress, s) }})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(progress, ",") != strings.Join(SectionNames(), ",") {
		t.Errorf("progress %v, want %v", progress, SectionNames())
	}
	for _, s := range r.Sections {
		t.Logf("%s %s in %s: %s | missing %s | files %s", s.Name, s.Status, s.Duration, strings.Join(s.Summary, " / "), s.Missing, s.Files)
		for _, f := range s.Files {
			if st, err := os.Stat(filepath.Join(bundle, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s lists %s, but it is missing or empty (%v)", s.Name, f, err)
			}
		}
	}

	// identity: the binary the test built and started.
	id := r.Section("identity")
	if id.Status != OK {
		t.Errorf("identity %s: %v", id.Status, id.Missing)
	}
	ident := id.Data.(*Identity)
	if ident.Exe != be.Bin || ident.GoVersion != runtime.Version() || ident.Module != "github.com/obs-toolkit/obs" {
		t.Errorf("identity: exe %s go %s module %s; want %s %s", ident.Exe, ident.GoVersion, ident.Module, be.Bin, runtime.Version())
	}
	if ident.Uid != os.Geteuid() || ident.Uptime <= 0 || ident.Uptime > 10*time.Minute || len(ident.Limits) < 10 {
		t.Errorf("identity: uid %d uptime %s limits %d", ident.Uid, ident.Uptime, len(ident.Limits))
	}
	if len(ident.Cmdline) < 2 || !strings.Contains(strings.Join(ident.Cmdline, " "), "-leak") {
		t.Errorf("cmdline %q", ident.Cmdline)
	}

	// files: the listener at the address the service wrote, and the
	// frontend's connections to it.
	fs := r.Section("files").Data.(*Files)
	var listening bool
	for _, l := range fs.Listen {
		if l.Local == be.Addr {
			listening = true
		}
	}
	if !listening {
		t.Errorf("listener %s not found among %+v", be.Addr, fs.Listen)
	}
	if fs.ByKind["socket"] < 2 || fs.Count != len(fs.FDs) {
		t.Errorf("files: %+v", fs.ByKind)
	}

	// memory: the binary is mapped.
	mem := r.Section("memory").Data.(*Memory)
	var mapped bool
	for _, f := range mem.Files {
		if f.Path == be.Bin && f.Exec {
			mapped = true
		}
	}
	if !mapped || mem.Rollup["Rss"] == 0 {
		t.Errorf("memory: binary mapped %v, rss %d", mapped, mem.Rollup["Rss"])
	}

	// agent: the counters the service exposes, and a readable heap profile.
	ag := r.Section("agent")
	if ag.Status != OK {
		t.Fatalf("agent %s: %v", ag.Status, ag.Missing)
	}
	if a := ag.Data.(*Agent); a.Name != "backend" || a.LogLevel != "INFO" {
		t.Errorf("agent: %+v", a)
	}
	// At least the 10th request leaked; the load loop may have added more.
	if !regexp.MustCompile(`^exposed leaked [1-9][0-9]*$`).MatchString(strings.Join(grep(ag.Summary, "exposed leaked"), "")) {
		t.Errorf("agent summary lacks the leak counter: %q", ag.Summary)
	}
	readProfile(t, filepath.Join(bundle, "agent-heap.pb.gz"))

	// logs: the backend's own records.
	lg := r.Section("logs").Data.(*Logs)
	if lg.Records != 20 || lg.ByLevel["info"] != 20 || lg.Rendered != 20 {
		t.Errorf("logs: %+v", lg)
	}
	if txt, _ := os.ReadFile(filepath.Join(bundle, "log-tail.txt")); !strings.Contains(string(txt), "INFO: backend/") {
		t.Errorf("log-tail.txt is not bunyan's long format:\n%.300s", txt)
	}

	// traces: the slow request leads, the refused one is an error trace.
	tr := r.Section("traces")
	if tr.Status != OK {
		t.Fatalf("traces %s: %v", tr.Status, tr.Missing)
	}
	td := tr.Data.(*Traces)
	if td.Service != "backend" || td.Seen < 14 || len(td.Slowest) == 0 || td.Slowest[0].Duration < 300*time.Millisecond {
		t.Errorf("traces: service %s, %d seen, slowest %+v", td.Service, td.Seen, td.Slowest)
	}
	if len(td.Errors) != 1 || !strings.Contains(td.Errors[0].Error, "400") {
		t.Errorf("error traces: %+v", td.Errors)
	}

	// Findings name the error trace, and as root the leak.
	all := strings.Join(r.Findings, "\n")
	if !strings.Contains(all, "traces: 1 trace(s) with errors") {
		t.Errorf("findings lack the error trace:\n%s", all)
	}
	if os.Geteuid() == 0 && !strings.Contains(all, "goroutines leaked for certain") {
		t.Errorf("findings lack the leaked goroutines:\n%s", all)
	}
	if !strings.Contains(string(mdOf(t, bundle)), "## Findings") {
		t.Error("report.md has no findings")
	}

	// The report files agree with the returned report.
	var back Report
	b, err := os.ReadFile(filepath.Join(bundle, "report.json"))
	if err != nil || json.Unmarshal(b, &back) != nil || len(back.Sections) != len(r.Sections) {
		t.Errorf("report.json unreadable or different: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(bundle, "report.md"))
	for _, n := range SectionNames() {
		if !strings.Contains(string(md), "\n## "+n+"\n") {
			t.Errorf("report.md has no %s section", n)
		}
	}

	t.Run("privileged", func(t *testing.T) {
		testenv.RequireRoot(t)
		cpu := r.Section("cpu")
		if cpu.Status != OK {
			t.Fatalf("cpu %s: %v", cpu.Status, cpu.Missing)
		}
		d := cpu.Data.(*ProfileData)
		if d.Source != "ebpf" || d.Samples == 0 {
			t.Errorf("cpu: %+v", d)
		}
		// The backend's work is SHA-256: it must lead the profile.
		var sha bool
		for i, e := range d.Top {
			if i < 3 && strings.Contains(e.Function, "sha256") {
				sha = true
			}
		}
		if !sha {
			t.Errorf("sha256 not among the top CPU functions: %+v", d.Top)
		}
		p := readProfile(t, filepath.Join(bundle, "cpu.pb.gz"))
		if len(p.Sample) == 0 {
			t.Error("cpu.pb.gz has no samples")
		}
		if off := r.Section("offcpu"); off.Status != OK || off.Data.(*ProfileData).Samples == 0 {
			t.Errorf("offcpu %s: %v", off.Status, off.Missing)
		}

		// Syscalls: the backend writes its log and its sockets.
		sc := r.Section("syscalls")
		if sc.Status != OK {
			t.Fatalf("syscalls %s: %v", sc.Status, sc.Missing)
		}
		names := map[string]uint64{}
		for _, l := range sc.Data.(*Syscalls).ByCall {
			names[l.Name] = l.Count
		}
		if names["write"] == 0 || names["read"]+names["recvfrom"] == 0 {
			t.Errorf("syscalls: no write or read seen while serving requests: %v", names)
		}

		// The live core: the backend leaked goroutines on its 10th, 20th...
		// request; each is blocked for good in leakOne's goroutine.
		cs := r.Section("core")
		if cs.Status != OK {
			t.Fatalf("core %s: %v", cs.Status, cs.Missing)
		}
		cd := cs.Data.(*CoreData)
		var leakOne int
		for _, l := range cd.Certain {
			if strings.Contains(l.Top.Func, "leakOne") {
				leakOne += l.Count
			}
		}
		if leakOne < 1 || cd.Leaked < leakOne {
			t.Errorf("core: %d certain leaks in leakOne (total %d), want >= 1; certain %+v", leakOne, cd.Leaked, cd.Certain)
		}
		if cd.Goroutines < 5 || cd.Dump.Bytes == 0 {
			t.Errorf("core: %d goroutines, %d bytes", cd.Goroutines, cd.Dump.Bytes)
		}
		readProfile(t, filepath.Join(bundle, "heap.pb.gz"))
		if !procAlive(be.Pid()) {
			t.Error("the backend did not survive the live core")
		}
	})
}

// TestTriageNoBPF takes the CPU profile through the service's agent (Go's
// own profiler), which needs no privileges, and attaches nothing.
func TestTriageNoBPF(t *testing.T) {
	dir := t.TempDir()
	fe, be := startPair(t, dir, "")
	stop := keepBusy(fe.URL)
	r, err := Run(context.Background(), Options{Pid: be.Pid(), Duration: 2 * time.Second, Dir: filepath.Join(dir, "b"), NoBPF: true, NoCore: true})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	cpu := r.Section("cpu")
	if cpu.Status != OK {
		t.Fatalf("cpu %s: %v", cpu.Status, cpu.Missing)
	}
	d := cpu.Data.(*ProfileData)
	var sha bool
	for i, e := range d.Top {
		if i < 3 && strings.Contains(e.Function, "sha256") {
			sha = true
		}
	}
	if d.Source != "agent" || d.Samples == 0 || !sha {
		t.Errorf("agent CPU profile without sha256 among the top 3: %+v", d)
	}
	readProfile(t, filepath.Join(dir, "b", "cpu-agent.pb.gz"))
	for _, n := range []string{"offcpu", "syscalls", "core"} {
		if s := r.Section(n); s.Status != Skipped {
			t.Errorf("%s %s with --no-bpf --no-core", n, s.Status)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "core")); err == nil {
		t.Error("a core was written with NoCore")
	}
}

func TestTriageWithoutAgent(t *testing.T) {
	// A process without an agent, not written in Go: sections say what they
	// could not collect, the run still succeeds.
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep program:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	dir := t.TempDir()
	r, err := Run(context.Background(), Options{Pid: cmd.Process.Pid, Duration: 200 * time.Millisecond, Dir: dir,
		LogFile: filepath.Join(dir, "no-such.log")})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Section("agent"); s.Status != Skipped {
		t.Errorf("agent %s, want skipped", s.Status)
	}
	if s := r.Section("identity"); s.Status != Partial || !strings.Contains(strings.Join(s.Missing, ";"), "build info") {
		t.Errorf("identity of sleep: %s %v", s.Status, s.Missing)
	}
	if s := r.Section("logs"); s.Status != Failed || !strings.Contains(strings.Join(s.Missing, ";"), "no-such.log") {
		t.Errorf("logs of a missing file: %s %v", s.Status, s.Missing)
	}
	if s := r.Section("files"); s.Status != OK {
		t.Errorf("files %s: %v", s.Status, s.Missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		t.Error(err)
	}
}

func TestTriageNoProcess(t *testing.T) {
	_, err := Run(context.Background(), Options{Pid: 1 << 30, Dir: t.TempDir()})
	if !errors.Is(err, ErrNoProcess) {
		t.Errorf("got %v, want ErrNoProcess", err)
	}
	if _, err := Run(context.Background(), Options{Pid: -1}); err == nil {
		t.Error("negative pid: want an error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Options{Pid: os.Getpid(), Dir: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a used bundle directory: got %v, want a refusal", err)
	}
}

func readProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// grep returns the lines containing sub.
func grep(lines []string, sub string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// keepBusy sends requests to the frontend at url, one after another, until
// the returned stop is called; stop returns when the last one is done.
func keepBusy(url string) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if err := httpGet(url + "/api/hash?n=20000"); err != nil {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func httpGet(url string) error {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func procAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// waitErrorTrace waits until the trace server has the refused request's
// trace (the services report in batches).
func waitErrorTrace(t *testing.T, url string) {
	t.Helper()
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		trs, err := c.Traces(context.Background(), tracing.Query{ServiceName: "backend",
			AnnotationQuery: map[string]string{"error": ""}, EndTs: time.Now().UnixMilli(), Lookback: 60000, Limit: 10})
		if err == nil && len(trs) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the refused request's trace never reached the trace server")
}

func mdOf(t *testing.T, bundle string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
