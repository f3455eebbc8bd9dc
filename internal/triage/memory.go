package triage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Memory is the memory section's data.
type Memory struct {
	Mappings int               `json:"mappings"`
	Virtual  uint64            `json:"virtual_bytes"`
	ByKind   map[string]uint64 `json:"virtual_by_kind"` // heap, stack, anon, file, special
	Files    []MappedFile      `json:"files,omitempty"` // largest first
	Rollup   map[string]uint64 `json:"smaps_rollup,omitempty"`
	Status   map[string]string `json:"status,omitempty"` // VmRSS, VmHWM, VmSwap, ...
}

// MappedFile is the address space one file occupies.
type MappedFile struct {
	Path  string `json:"path"`
	Bytes uint64 `json:"bytes"`
	Exec  bool   `json:"exec"`
}

func memory(_ context.Context, e *env, s *Section) {
	raw, err := os.ReadFile(procPath(e.pid, "maps"))
	if err != nil {
		s.miss("read maps: %v", err)
		return
	}
	maps, err := procfs.ParseMaps(raw)
	if err != nil {
		s.miss("%v", err)
		return
	}
	e.write(s, "maps.txt", raw)
	m := &Memory{Mappings: len(maps), ByKind: map[string]uint64{}}
	s.Data = m
	files := map[string]*MappedFile{}
	for _, mp := range maps {
		size := mp.End - mp.Start
		m.Virtual += size
		kind := "anon"
		switch {
		case mp.Path == "[heap]":
			kind = "heap"
		case strings.HasPrefix(mp.Path, "[stack"):
			kind = "stack"
		case strings.HasPrefix(mp.Path, "["):
			kind = "special"
		case mp.IsFile():
			kind = "file"
			f := files[mp.Path]
			if f == nil {
				f = &MappedFile{Path: mp.Path}
				files[mp.Path] = f
			}
			f.Bytes += size
			f.Exec = f.Exec || mp.Exec()
		}
		m.ByKind[kind] += size
	}
	for _, f := range files {
		m.Files = append(m.Files, *f)
	}
	sort.Slice(m.Files, func(i, j int) bool {
		return m.Files[i].Bytes > m.Files[j].Bytes || m.Files[i].Bytes == m.Files[j].Bytes && m.Files[i].Path < m.Files[j].Path
	})
	if b, err := os.ReadFile(procPath(e.pid, "smaps_rollup")); err == nil {
		m.Rollup = ParseSmapsRollup(string(b))
	} else {
		s.miss("smaps_rollup: %v (resident and swapped sizes come from status only)", err)
	}
	if st, err := procfs.Status(e.pid); err == nil {
		m.Status = map[string]string{}
		for _, k := range []string{"VmPeak", "VmSize", "VmHWM", "VmRSS", "RssAnon", "RssFile", "VmData", "VmStk", "VmSwap"} {
			if v, ok := st[k]; ok {
				m.Status[k] = v
			}
		}
	}

	s.note("%d mappings, %s virtual: %s", m.Mappings, bytesStr(m.Virtual), kindsStr(m.ByKind))
	if sw := m.Rollup["Swap"]; sw > 0 {
		s.finding("%s of its memory is swapped out", bytesStr(sw))
	}
	if m.Rollup != nil {
		s.note("resident %s (anonymous %s, pss %s), swapped %s", bytesStr(m.Rollup["Rss"]),
			bytesStr(m.Rollup["Anonymous"]), bytesStr(m.Rollup["Pss"]), bytesStr(m.Rollup["Swap"]))
	} else if m.Status != nil {
		s.note("resident %s, peak %s", m.Status["VmRSS"], m.Status["VmHWM"])
	}
	for i, f := range m.Files {
		if i == 3 {
			break
		}
		s.note("mapped file %s: %s", filepath.Base(f.Path), bytesStr(f.Bytes))
	}
	e.writeJSON(s, "memory.json", m)
}

func kindsStr(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + bytesStr(m[k])
	}
	return strings.Join(parts, ", ")
}

// bytesStr prints a size in binary units.
func bytesStr(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		suffix = s
		if v < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
