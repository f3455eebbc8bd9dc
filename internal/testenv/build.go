package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildGo builds the Go main package in srcDir (stdlib imports only) into
// out. The sources are copied into a throwaway module of their own so an
// older toolchain (GOTOOLCHAIN=go1.25.4, fetched through the module proxy)
// can build them even though obs's own go.mod asks for a newer Go. Extra
// environment entries (CGO_ENABLED=1, ...) are appended; flags go before the
// package. toolchain "" uses the installed Go.
func BuildGo(srcDir, out, toolchain string, env []string, flags ...string) error {
	tmp, err := os.MkdirTemp("", "obs-fixture-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ents, err := os.ReadDir(srcDir)
	if err != nil {
		return fmt.Errorf("read fixture %s: %w", srcDir, err)
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".go") || strings.HasSuffix(n, ".c") || strings.HasSuffix(n, ".h") || strings.HasSuffix(n, ".s")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(srcDir, n))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, n), b, 0o644); err != nil {
			return err
		}
	}
	mod := "module fixture\n\ngo 1.25.0\n"
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	args := append([]string{"build", "-o", abs}, flags...)
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if toolchain != "" {
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+toolchain)
	}
	cmd.Env = append(cmd.Env, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s (%s): %v: %s", filepath.Base(srcDir), toolchainName(toolchain), err, strings.TrimSpace(string(b)))
	}
	return nil
}

func toolchainName(t string) string {
	if t == "" {
		return "installed go"
	}
	return t
}
