package probes

import (
	"path/filepath"
	"strings"

	"github.com/obs-toolkit/obs/probes/elfsym"
)

// Listing is one probe-able thing in a target.
type Listing struct {
	Kind   ProbeKind `json:"kind"`             // "func" or "usdt"
	Name   string    `json:"name"`             // function name, or provider:name
	Object string    `json:"object"`           // file it lives in
	Lib    string    `json:"lib,omitempty"`    // shared object base name ("" for the executable)
	Addr   uint64    `json:"addr"`             // link-time address
	Offset uint64    `json:"offset"`           // file offset
	Size   uint64    `json:"size,omitempty"`   // function bytes
	Source string    `json:"source,omitempty"` // symtab, dynsym or pclntab
	Sites  int       `json:"sites,omitempty"`  // USDT: number of sites
	Args   string    `json:"args,omitempty"`   // USDT: argument specs of the first site
	Sem    bool      `json:"semaphore,omitempty"`
}

// List returns the functions and USDT probes of the target's executable
// and its mapped shared objects whose name matches pattern (a glob; "" for
// all). USDT probes match as "provider:name" or with a "usdt:" prefix.
func (t *Target) List(pattern string) ([]Listing, error) {
	var out []Listing
	upat := strings.TrimPrefix(pattern, "usdt:")
	for i, obj := range t.Objects() {
		bi, err := t.info(obj)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			continue
		}
		lib := ""
		if i > 0 {
			lib = filepath.Base(obj)
		}
		if !strings.HasPrefix(pattern, "usdt:") {
			fns, err := bi.bin.Match(pattern)
			if err != nil {
				return nil, usagef("%v", err)
			}
			if pattern != "" && !elfsym.IsGlob(pattern) && len(fns) == 0 && lib != "" {
				// also try lib:name
				if fs, _ := bi.bin.Match(strings.TrimPrefix(pattern, lib+":")); len(fs) > 0 {
					fns = fs
				}
			}
			for _, f := range fns {
				out = append(out, Listing{Kind: KindFunc, Name: f.Name, Object: obj, Lib: lib, Addr: f.Addr, Offset: f.Offset, Size: f.Size, Source: string(f.Source)})
			}
		}
		idx := map[string]int{}
		for _, u := range bi.usdt {
			name := u.Provider + ":" + u.Name
			if upat != "" {
				if ok, _ := elfsym.Glob(upat, name); !ok {
					continue
				}
			}
			if j, ok := idx[name]; ok {
				out[j].Sites++
				continue
			}
			idx[name] = len(out)
			out = append(out, Listing{Kind: KindUSDT, Name: name, Object: obj, Lib: lib, Addr: u.Addr, Offset: u.Offset, Sites: 1, Args: u.ArgSpec, Sem: u.SemOff != 0})
		}
	}
	return out, nil
}
