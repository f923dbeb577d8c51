package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/lockedbuf"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

func TestMain(m *testing.M) {
	s3test.CleanEnv()
	redistest.Main(m, s3test.StopShared)
}

// result is what one command line printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// session describes how a command line is run: its environment, what is
// typed on stdin, whether stdin counts as a terminal, and any other
// adjustment of the app (setup, described by how in the log).
type session struct {
	env         map[string]string
	stdin       string
	interactive bool
	setup       func(*app)
	how         string
}

// run executes `rueidisfs args...` in-process, through the same urfave
// application as the real binary, with captured output.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return session{}.run(t, args...)
}

func (s session) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout strings.Builder
	var stderr lockedbuf.Buffer // progress bars write from their own goroutine
	getenv := func(k string) string { return s.env[k] }
	a := newApp(strings.NewReader(s.stdin), &stdout, &stderr, getenv)
	a.interactive = s.interactive
	a.isRoot = true
	if s.setup != nil {
		s.setup(a)
	}
	code := a.run(context.Background(), append([]string{"rueidisfs"}, args...))
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	how := ""
	if s.how != "" {
		how = " (" + s.how + ")"
	}
	t.Logf("rueidisfs %s -> %d%s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, how, r.stdout, r.stderr)
	return r
}

// ok fails the test unless the command succeeded.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", r.code, r.stderr)
	}
	return r
}

// fails checks that the command failed with exit status 1 and a message
// containing want, printed as exactly one FATAL line (or as an ERROR/USAGE
// block for usage errors).
func (r result) fails(t *testing.T, want string) result {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr does not contain %q:\n%s", want, r.stderr)
	}
	if strings.HasPrefix(r.stderr, "ERROR: ") {
		return r
	}
	var fatal []string
	for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if strings.Contains(l, "<FATAL>") {
			fatal = append(fatal, l)
		}
	}
	if len(fatal) != 1 || !strings.Contains(fatal[0], want) {
		t.Fatalf("want exactly one FATAL line containing %q, got %q", want, fatal)
	}
	return r
}

// newDB returns the meta URL of an empty database.
func newDB(t *testing.T) (string, *redistest.Server, int) {
	srv, db := redistest.NewDB(t)
	return srv.URL("redis", db), srv, db
}

// formatVolume formats a volume named name with the given extra flags and
// returns its stored format.
func formatVolume(t *testing.T, url, name string, flags ...string) *codec.Format {
	t.Helper()
	return formatVolumeIn(t, session{}, url, name, flags...)
}

// formatVolumeIn is formatVolume in session s (e.g. with its environment).
func formatVolumeIn(t *testing.T, s session, url, name string, flags ...string) *codec.Format {
	t.Helper()
	args := append([]string{"format", url, name, "--bucket", t.TempDir()}, flags...)
	s.run(t, args...).ok(t)
	t.Cleanup(func() { checkVolume(t, url) })
	return storedFormat(t, url)
}

// checkVolume recounts every counter of the volume at url and fails the test
// on a difference, unless the test failed already or the volume is gone.
func checkVolume(t *testing.T, url string) {
	if t.Failed() {
		return
	}
	ctx := context.Background()
	e, f, err := openFresh(ctx, url)
	if errors.Is(err, meta.ErrNotFormatted) {
		return
	} else if err != nil {
		t.Errorf("check volume: %v", err)
		return
	}
	defer e.Close(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{SkipDirStats: !f.DirStats})
	if err != nil {
		t.Errorf("recount: %v", err)
		return
	}
	// format (like juicefs format) creates the root and the trash root
	// without directory statistics: they are computed on first use.
	lazy := map[string]bool{
		e.Keys().DirUsedSpace() + " " + meta.RootInode.String():  true,
		e.Keys().DirUsedSpace() + " " + meta.TrashInode.String(): true,
	}
	var problems []string
	for _, p := range rep.Problems {
		if p.Kind == "dirstat" && lazy[p.Key] && strings.HasPrefix(p.Detail, "missing (recount 0/0/0)") {
			continue
		}
		problems = append(problems, p.String())
	}
	if len(problems) > 0 {
		t.Errorf("volume inconsistent after the test:\n%s", strings.Join(problems, "\n"))
	}
}

// storedFormat reads the setting key through a fresh engine.
func storedFormat(t *testing.T, url string) *codec.Format {
	t.Helper()
	ctx := context.Background()
	e, f, err := openFresh(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	e.Close(ctx)
	return f
}

// openFresh opens a new engine on url and loads the format (without the
// version check). The checks of the tests read through it: a fresh engine
// has nothing cached from what the commands under test read or wrote.
// On error no engine is left open.
func openFresh(ctx context.Context, url string) (*meta.Engine, *codec.Format, error) {
	e, err := meta.Open(ctx, url, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return nil, nil, err
	}
	f, err := e.Load(ctx, false)
	if err != nil {
		e.Close(ctx)
		return nil, nil, err
	}
	return e, f, nil
}

// mount registers a client session on the volume, as a mount would, for
// the rest of the test.
func mount(t *testing.T, url string) *meta.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := meta.Open(ctx, url, meta.Options{NoBackgroundJobs: true, MountPoint: "/mnt/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// statusOf runs status and decodes its output.
func statusOf(t *testing.T, url string, flags ...string) statusOutput {
	t.Helper()
	r := run(t, append([]string{"status", url}, flags...)...).ok(t)
	var out statusOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("status output is not JSON: %v\n%s", err, r.stdout)
	}
	return out
}
