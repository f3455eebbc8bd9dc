package sample

import (
	"math/rand"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/symtab"
)

// BenchmarkBuild100k symbolizes and builds a profile of 100,000 distinct
// samples (no two alike, the worst case for aggregation), 16 frames deep,
// drawn from 20,000 distinct pcs of this test binary's Go text, as Run does
// after a session. It needs no privilege: the pcs are this process's own.
func BenchmarkBuild100k(b *testing.B) {
	proc, err := symtab.NewProcess(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	defer proc.Close()
	var text *symtab.Mapping
	for _, m := range proc.Mappings() {
		if m.File != nil && m.File.IsGo() {
			text = m
			break
		}
	}
	if text == nil {
		b.Fatal("no Go text mapping")
	}
	rng := rand.New(rand.NewSource(1))
	pool := make([]uint64, 20000)
	for i := range pool {
		pool[i] = text.Start + uint64(rng.Int63n(int64(text.Limit-text.Start)))
	}
	raws := make([]Raw, 100000)
	for i := range raws {
		st := make([]uint64, 16)
		for j := range st {
			st[j] = pool[rng.Intn(len(pool))]
		}
		raws[i] = Raw{Tgid: 1, Tid: uint32(1 + i%8), User: st, SPWord: pool[rng.Intn(len(pool))], Count: 1}
	}
	names := map[uint32]string{}
	for i := uint32(1); i <= 8; i++ {
		names[i] = "worker"
	}
	b.ResetTimer()
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for i := 0; i < b.N; i++ {
		// A fresh Process each time: nothing cached from the last round.
		p, err := symtab.NewProcess(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		prof, st, err := Build(raws, BuildOptions{Kind: CPU, Freq: 99, Start: time.Now(), Duration: time.Second, Proc: p, Threads: names})
		if err != nil || st.Samples != 100000 || len(prof.Sample) != 100000 {
			b.Fatalf("%v: %d samples", err, st.Samples)
		}
		p.Close()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
	// CPU time is steadier than wall time on a shared host (GC included).
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
