package main

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

// versionInfo is what `obs version --json` prints.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func readVersion() versionInfo {
	v := versionInfo{Version: "(devel)", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print obs's version, commit and Go version",
		Long: `Print obs's version, commit and Go version.

--json fields: module, version, commit, modified, go_version, os, arch.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := readVersion()
			io := g.IO()
			if asJSON {
				return io.JSON(v)
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			} else if len(commit) > 12 {
				commit = commit[:12]
			}
			if v.Modified {
				commit += "+dirty"
			}
			io.Printf("obs %s (%s) commit %s %s %s/%s\n", v.Version, v.Module, commit, v.GoVersion, v.OS, v.Arch)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
