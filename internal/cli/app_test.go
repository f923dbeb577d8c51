package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

func TestVersion(t *testing.T) {
	// A test binary carries no version control stamps.
	want := "rueidisfs version " + Version + "+unknown (compatible with JuiceFS 1.4.1)\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-V"}} {
		if r := run(t, args...).ok(t); r.stdout != want {
			t.Errorf("%v printed %q, want %q", args, r.stdout, want)
		}
	}
	built := session{setup: func(a *app) {
		a.build = buildInfo{revision: "0123456789abcdef0123456789abcdef01234567", time: "2026-12-06T07:15:00Z"}
	}}
	want = "rueidisfs version " + Version + "+2026-12-06.01234567 (compatible with JuiceFS 1.4.1)\n"
	if r := built.run(t, "version").ok(t); r.stdout != want {
		t.Errorf("version printed %q, want %q", r.stdout, want)
	}
	dirty := session{setup: func(a *app) { a.build = buildInfo{revision: "89abcdef", time: "2026-12-07T00:00:00Z", modified: true} }}
	if r := dirty.run(t, "version").ok(t); !strings.Contains(r.stdout, "+2026-12-07.89abcdef-dirty ") {
		t.Errorf("a build from a modified tree is not marked dirty: %q", r.stdout)
	}
}

// TestEveryFlagExplained is a house rule: every flag of every command has
// help text, and --help of every command works and lists them.
func TestEveryFlagExplained(t *testing.T) {
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	ca := a.cliApp()
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			d, ok := f.(cli.DocGenerationFlag)
			if !ok || strings.TrimSpace(d.GetUsage()) == "" {
				t.Errorf("%s: flag --%s has no help text", where, f.Names()[0])
			}
		}
	}
	check("global", ca.Flags)
	for _, cmd := range ca.Commands {
		check(cmd.Name, cmd.Flags)
		if cmd.Usage == "" || cmd.Description == "" {
			t.Errorf("command %s lacks a usage line or a description", cmd.Name)
		}
		r := run(t, cmd.Name, "--help").ok(t)
		for _, f := range cmd.Flags {
			if !strings.Contains(r.stdout, "--"+f.Names()[0]) {
				t.Errorf("%s --help does not list --%s", cmd.Name, f.Names()[0])
			}
		}
		for _, sub := range cmd.Subcommands {
			name := cmd.Name + " " + sub.Name
			check(name, sub.Flags)
			if sub.Usage == "" {
				t.Errorf("command %s lacks a usage line", name)
			}
			if !strings.Contains(r.stdout, sub.Name) {
				t.Errorf("%s --help does not list %s", cmd.Name, sub.Name)
			}
			r := run(t, cmd.Name, sub.Name, "--help").ok(t)
			for _, f := range sub.Flags {
				if !strings.Contains(r.stdout, "--"+f.Names()[0]) {
					t.Errorf("%s --help does not list --%s", name, f.Names()[0])
				}
			}
		}
	}
	r := run(t, "--help").ok(t)
	for _, cmd := range ca.Commands {
		if !strings.Contains(r.stdout, cmd.Name) {
			t.Errorf("--help does not list %s", cmd.Name)
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	r := run(t, "format", "redis://127.0.0.1:1/1")
	r.fails(t, "ERROR: This command requires at least 2 arguments\nUSAGE:\n   rueidisfs format [command options] META-URL NAME\n")
	r = run(t, "status", "redis://127.0.0.1:1/1", "extra")
	r.fails(t, "ERROR: This command accept at most 1 arguments but got [redis://127.0.0.1:1/1 extra]\nUSAGE:\n   rueidisfs status [command options] META-URL\n")
	run(t, "status", "--no-such-flag", "x").fails(t, "flag provided but not defined: -no-such-flag")
	run(t, "nonsense").fails(t, `ERROR: unknown command "nonsense"`)
	run(t, "--log-level", "loud", "version").fails(t, `unknown --log-level "loud"`)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestConnectionErrors(t *testing.T) {
	run(t, "status", "ftp://127.0.0.1/1").fails(t, `unsupported scheme "ftp"`)
	run(t, "status", "redis://127.0.0.1:99999/1").fails(t, "meta URL")

	closed := fmt.Sprintf("redis://127.0.0.1:%d/1", freePort(t))
	r := run(t, "status", closed).fails(t, "connection refused")
	if !strings.Contains(r.stderr, "<INFO>: Meta address: "+closed) {
		t.Errorf("the meta address is not logged first:\n%s", r.stderr)
	}

	srv := redistest.Start(t, redistest.WithPassword("right-password"))
	wrong := srv.URLAs("redis", "", "wrong-password", 1)
	r = run(t, "status", wrong).fails(t, "authentication failed")
	if strings.Contains(r.stderr, "wrong-password") {
		t.Errorf("the password is printed:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "Meta address: redis://:****@"+srv.Addr+"/1") {
		t.Errorf("the meta address is not logged with a masked password:\n%s", r.stderr)
	}
	run(t, "status", srv.URLAs("redis", "", "", 1)).fails(t, "requires a password")
	stale := session{env: map[string]string{"REDIS_PASSWORD": "forgotten"}}
	stale.run(t, "status", srv.URLAs("redis", "", "", 1)).fails(t,
		"authentication failed (wrong user name or password; the password came from the environment variable REDIS_PASSWORD)")
	// With the right password, from the environment as juicefs allows.
	url := srv.URLAs("redis", "", "", 2)
	s := session{env: map[string]string{"META_PASSWORD": "right-password"}}
	s.run(t, "format", url, "env-pass", "--bucket", t.TempDir()).ok(t)
	s.run(t, "status", url).ok(t)
}

func TestReorderArgs(t *testing.T) {
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	ca := a.cliApp()
	for _, tc := range []struct{ in, want string }{
		{"status URL --more", "status --more URL"},
		{"status URL -s 3 -v", "-v status -s 3 URL"},
		{"-q format URL NAME --trash-days 0 --bucket /b", "-q format --trash-days 0 --bucket /b URL NAME"},
		{"format URL NAME --log-id x --trash-days=2", "--log-id x format --trash-days=2 URL NAME"},
		{"config URL --dir-stats=false -y", "config --dir-stats=false -y URL"},
		{"status URL --bogus", "status --bogus URL"},
		{"status -- --odd-url", "status -- --odd-url"},
		{"nonsense a --b", "nonsense a --b"},
	} {
		got := reorderArgs(ca, append([]string{"rueidisfs"}, strings.Fields(tc.in)...))
		if g := strings.Join(got[1:], " "); g != tc.want {
			t.Errorf("%q reordered to %q, want %q", tc.in, g, tc.want)
		}
	}
}

func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	var level slog.LevelVar
	h := &lineHandler{mu: &sync.Mutex{}, w: &buf, name: "rueidisfs", pid: 4242, level: &level}
	log := slog.New(h)
	log.Warn("AOF is off\n")
	level.Set(slog.LevelWarn)
	log.Info("hidden")
	log.With("key", "a value").Error("failed", "n", 3)
	_ = h.Handle(context.Background(), slog.NewRecord(time.Date(2026, 11, 27, 11, 22, 39, 1000, time.Local), levelFatal, "no caller", 0))
	h.color = true
	log.Warn("coloured")
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} rueidisfs\[4242\] <WARNING>: AOF is off \[TestLogLines@app_test\.go:\d+\]$`),
		regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} rueidisfs\[4242\] <ERROR>: failed key="a value" n=3 \[TestLogLines@app_test\.go:\d+\]$`),
		regexp.MustCompile(`^2026/11/27 11:22:39\.000001 rueidisfs\[4242\] <FATAL>: no caller$`),
		regexp.MustCompile(`^.* rueidisfs\[4242\] <\x1b\[1;33mWARNING\x1b\[0m>: coloured \[TestLogLines@app_test\.go:\d+\]$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", buf.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %q does not match %s", lines[i], re)
		}
	}
	for in, want := range map[string]string{
		"github.com/rueidisfs/rueidisfs/meta.(*Engine).CleanStaleSessions":     "CleanStaleSessions",
		"github.com/rueidisfs/rueidisfs/internal/cli.(*app).format.func1":      "format",
		"github.com/rueidisfs/rueidisfs/redisconn.(*Conn).checkServer.func2.1": "checkServer",
		"main.main": "main",
		"github.com/rueidisfs/rueidisfs/internal/cli.init.3": "init",
	} {
		if got := shortFuncName(in); got != want {
			t.Errorf("shortFuncName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogLevels(t *testing.T) {
	url, _, _ := newDB(t)
	r := run(t, "-q", "format", url, "quiet", "--bucket", t.TempDir()).ok(t)
	if strings.Contains(r.stderr, "<INFO>") || !strings.Contains(r.stderr, "<WARNING>") {
		t.Errorf("--quiet printed:\n%s", r.stderr)
	}
	r = run(t, "status", url, "--log-level", "error").ok(t)
	if r.stderr != "" {
		t.Errorf("--log-level error printed:\n%s", r.stderr)
	}
	r = run(t, "status", url, "--log-id", "job-7").ok(t)
	if !strings.HasPrefix(r.stderr, "[job-7] ") {
		t.Errorf("--log-id: %q", r.stderr)
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		s    string
		unit byte
		want uint64
	}{{"4M", 'K', 4 << 20}, {"4096", 'K', 4 << 20}, {"1.5", 'G', 3 << 29}, {"100B", 'G', 100}, {"2t", 'G', 2 << 40}, {"", 'G', 0}} {
		if got, err := parseBytes("x", tc.s, tc.unit); err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.s, got, err, tc.want)
		}
	}
	for _, bad := range []string{"4X", "-1", "abc", "M"} {
		if _, err := parseBytes("x", bad, 'G'); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	for n, want := range map[uint64]string{0: "0 B", 9: "9 B", 100: "100 B", 1536: "1.5 KiB", 10 << 30: "10 GiB", 1 << 50: "1.0 PiB"} {
		if got := formatIBytes(n); got != want {
			t.Errorf("formatIBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := formatComma(n); got != want {
			t.Errorf("formatComma(%d) = %q, want %q", n, got, want)
		}
	}
	if v, err := parseMbps("x", "1.5G"); err != nil || v != 1500 || formatMbps(v) != "1.5 Gbps" {
		t.Errorf("parseMbps: %d %v", v, err)
	}
	var warned []string
	for in, want := range map[uint64]uint64{3000 << 10: 2 << 20, 1: 64 << 10, 1 << 30: 16 << 20, 4 << 20: 4 << 20} {
		if got := fixBlockSize(in, func(m string) { warned = append(warned, m) }); got != want {
			t.Errorf("fixBlockSize(%d) = %d, want %d", in, got, want)
		}
	}
	if len(warned) != 2 {
		t.Errorf("warnings: %q", warned)
	}
}

// TestJuicefsCommands: every command of juicefs 1.4.1 is either a command
// of rueidisfs or listed as missing (planned or not), never both, so that
// the answer to an unknown command stays true as commands are added.
func TestJuicefsCommands(t *testing.T) {
	juicefs := []string{"format", "config", "quota", "destroy", "gc", "fsck", "restore", "dump", "changelog",
		"load", "version", "status", "stats", "profile", "info", "mount", "umount", "gateway", "webdav", "bench",
		"objbench", "mdtest", "warmup", "rmr", "sync", "debug", "clone", "summary", "compact", "tier"}
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	have := map[string]bool{}
	for _, c := range a.commands() {
		have[c.Name] = true
	}
	missing := map[string]bool{}
	for _, m := range missingJuicefsCommands() {
		if have[m.name] {
			t.Errorf("%q is a command now: remove it from missingJuicefsCommands", m.name)
		}
		missing[m.name] = true
	}
	for _, name := range juicefs {
		if !have[name] && !missing[name] {
			t.Errorf("juicefs command %q is neither a command of rueidisfs nor listed in missingJuicefsCommands", name)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	r := run(t, "gateway", "redis://localhost/1", "localhost:9000").fails(t, `"gateway" (S3 gateway) is a juicefs command that rueidisfs does not plan to have: use the official juicefs client`)
	if want := "commands of rueidisfs: format, config,"; !strings.Contains(r.stderr, want) {
		t.Errorf("the answer to an unknown command lacks %q", want)
	}
	run(t, "frobnicate").fails(t, `unknown command "frobnicate"`)
}

// TestHelpSummaries: every command's one-line summary reads the same way,
// capitalised, without a final period, as juicefs's do.
func TestHelpSummaries(t *testing.T) {
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	var check func(prefix string, cmds []*cli.Command)
	check = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			u := c.Usage
			if u == "" || u[0] < 'A' || u[0] > 'Z' || strings.HasSuffix(u, ".") {
				t.Errorf("%s%s: summary %q should be capitalised, without a final period", prefix, c.Name, u)
			}
			check(prefix+c.Name+" ", c.Subcommands)
		}
	}
	check("", a.commands())
}
