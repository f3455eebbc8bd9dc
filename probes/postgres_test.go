package probes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// TestUSDTPostgres counts postgres 15's semaphore-gated query__start probe
// across every backend process (--exe semantics), with the query text
// copied by --str: exactly the queries sent, by text.
func TestUSDTPostgres(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		testenv.SkipOrFail(t, "postgresql-15 not installed (.ci/run installs it)")
	}
	psql := testenv.RequireTool(t, "psql")
	runuser := testenv.RequireTool(t, "runuser")
	dir, err := os.MkdirTemp("", "obs-pg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := exec.Command("chown", "postgres", dir).Run(); err != nil {
		testenv.SkipOrFail(t, "no postgres user to run the server as")
	}
	data := filepath.Join(dir, "data")
	if b, err := exec.Command(runuser, "-u", "postgres", "--", filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, b)
	}
	srv := exec.Command(runuser, "-u", "postgres", "--", filepath.Join(pgBin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off")
	var srvLog strings.Builder
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		exec.Command(runuser, "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
		srv.Wait()
	}()
	// psql sends each statement of its input as a query of its own.
	query := func(sql string) error {
		cmd := exec.Command(psql, "-h", dir, "-U", "postgres", "-X", "-q", "-f", "-")
		cmd.Stdin = strings.NewReader(sql)
		return cmd.Run()
	}
	deadline := time.Now().Add(60 * time.Second)
	for query("select 0") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not start: %s", srvLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tg, err := ExeTarget(filepath.Join(pgBin, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll([]string{"usdt:postgresql:query__start"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Trace(tg, ps, TraceOptions{Strings: []string{"arg0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const n = 9
	var sql strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sql, "select %d as obs_probe_test;\n", i)
	}
	if err := query(sql.String()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	// Each text once: every query counted, none invented.
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		evc := make(chan Event, 1)
		go func() {
			if ev, err := tr.Next(); err == nil {
				evc <- ev
			}
		}()
		select {
		case ev := <-evc:
			if len(ev.Args) == 1 {
				if s, _ := ev.Args[0].Raw.(string); strings.Contains(s, "obs_probe_test") {
					if seen[s] {
						t.Errorf("query %q seen twice", s)
					}
					seen[s] = true
				}
			}
		case <-timeout:
			t.Fatalf("saw %d of %d queries: %v", len(seen), n, seen)
		}
	}
	tr.Close()
}
