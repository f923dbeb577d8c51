package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Version is the release of rueidisfs itself.
const Version = "0.1.0"

// compatibleWith is the official client release whose keyspace and
// behaviour rueidisfs reproduces.
const compatibleWith = "JuiceFS 1.4.1"

// buildInfo is what the Go toolchain recorded about this binary: the
// commit and its date when it was built inside a git checkout.
type buildInfo struct {
	revision string // full commit hash, "" when unknown
	time     string // commit time, RFC 3339
	modified bool   // built from a work tree with uncommitted changes
}

// The commit a binary was built from, set at link time by `make build`
// (-ldflags -X, from git): the Go toolchain stamps builds in a plain clone
// itself, but not builds in a git worktree or with -buildvcs=false. Never
// assigned by the program.
var (
	linkedRevision string
	linkedTime     string
	linkedModified string
)

// readBuildInfo finds the commit this binary was built from: the values
// linked in by make, else the version control stamps of `go build`.
func readBuildInfo() buildInfo {
	if linkedRevision != "" {
		return buildInfo{revision: linkedRevision, time: linkedTime, modified: linkedModified == "true"}
	}
	var b buildInfo
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// fullVersion is Version with the build's commit, in juicefs's layout:
// "0.1.0+2026-12-06.1a2b3c4d" ("-dirty" when the work tree had changes,
// "+unknown" for a binary built without version control information, such
// as a test binary or a build outside a git checkout).
func (b buildInfo) fullVersion() string {
	if b.revision == "" {
		return Version + "+unknown"
	}
	rev := b.revision
	if len(rev) > 8 {
		rev = rev[:8]
	}
	date := b.time
	if len(date) >= 10 {
		date = date[:10]
	}
	v := Version + "+" + date + "." + rev
	if b.modified {
		v += "-dirty"
	}
	return v
}

func (a *app) printVersion() error {
	_, err := fmt.Fprintf(a.stdout, "%s version %s (compatible with %s)\n", a.name, a.build.fullVersion(), compatibleWith)
	return err
}

func (a *app) versionCommand() *cli.Command {
	return &cli.Command{
		Name:     "version",
		Category: "ADMIN",
		Usage:    "Show the version",
		Description: `Prints the version of rueidisfs with the date and commit it was built from
(or "unknown" for a build without version control information), and the
JuiceFS release it is compatible with.`,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			return a.printVersion()
		},
	}
}
