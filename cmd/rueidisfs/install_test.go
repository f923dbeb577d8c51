package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall follows the README's install step: `make install` puts a
// rueidisfs on the PATH whose version names the commit it was built from.
func TestMakeInstall(t *testing.T) {
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build rueidisfs as the README says: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	prefix := t.TempDir()
	bindir := filepath.Join(prefix, "bin")
	install := exec.Command("make", "-C", root, "install", "PREFIX="+prefix)
	install.Env = append(os.Environ(), "MAKEFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "installed "+filepath.Join(bindir, "rueidisfs")) {
		t.Errorf("make install does not say where it installed rueidisfs:\n%s", out)
	}

	rev, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	// The way a shell finds it: by name, on the PATH.
	t.Setenv("PATH", bindir+string(os.PathListSeparator)+os.Getenv("PATH"))
	found, err := exec.LookPath("rueidisfs")
	if err != nil || found != filepath.Join(bindir, "rueidisfs") {
		t.Fatalf("rueidisfs on the PATH: %q, %v; want the one installed in %s", found, err, bindir)
	}
	out, err := exec.Command("rueidisfs", "version").Output()
	if err != nil {
		t.Fatalf("rueidisfs version: %v", err)
	}
	if want := "." + string(rev[:8]); !strings.Contains(string(out), want) {
		t.Errorf("rueidisfs version printed %q, which does not name commit %s", out, rev[:8])
	}
}
