// Package cli is the rueidisfs command line: `rueidisfs [global options]
// command [command options] META-URL ...`, shaped like the official juicefs
// client's so that scripts and habits carry over.
//
// Every command lives in its own file and is one *cli.Command built by a
// method of app and listed in commands(). A command that works on a volume
// checks its arguments with checkArgs, connects with openEngine (which logs
// the meta address and hands the engine the command line's logger; the
// tools use openVolume, which also loads the volume's format), prints
// machine-readable output (JSON) to stdout with printJSON and everything else
// through the logger to stderr, and returns an error instead of exiting:
// Main prints it as one FATAL log line and returns exit status 1 (or the
// status of a cli.ExitCoder).
package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
)

// app holds everything one run of the command line uses: its standard
// streams, environment, logger and terminal facts. Tests build one with
// their own streams; nothing here is global.
type app struct {
	name   string
	stdin  *bufio.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// interactive: stdin is a terminal, so confirmation prompts may be
	// answered. Without it a prompt refuses unless --yes was given.
	interactive bool
	// colorTerm: stderr is a terminal, so log levels may be coloured.
	colorTerm bool
	// progressTerm: stderr is a terminal, so long operations draw progress
	// bars on it; otherwise they stay quiet until their summary.
	progressTerm bool
	// isRoot chooses the default bucket of `format`, as juicefs does.
	isRoot bool
	home   string
	random io.Reader     // randomness for secret nonces
	newID  func() string // volume UUIDs
	build  buildInfo     // the commit this binary was built from
	// resolveMount reaches a volume through a path inside its mount, for
	// the tools that take juicefs's PATH form; nil: not possible yet.
	resolveMount mountResolver
	// lostStats is set when closing an engine could not store the
	// statistics it counted (meta.ErrStatsNotStored): the command then
	// exits 1 although it did its work.
	lostStats error
	// objectMetrics, when set (by mount), receives the metrics of object
	// requests.
	objectMetrics prometheus.Registerer
	// findMount finds the mount holding an absolute path (tests replace it).
	findMount func(string) (mountedPath, error)

	level   slog.LevelVar
	handler *lineHandler
	log     *slog.Logger
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	a := &app{
		name:   "rueidisfs",
		stdin:  bufio.NewReader(stdin),
		stdout: stdout,
		stderr: stderr,
		getenv: getenv,
		isRoot: os.Getuid() == 0,
		random: rand.Reader,
		newID:  func() string { return uuid.New().String() },
		build:  readBuildInfo(),
	}
	a.findMount = findMount
	a.resolveMount = resolveThroughConfig
	a.home, _ = os.UserHomeDir()
	a.handler = &lineHandler{mu: &sync.Mutex{}, w: stderr, name: a.name, pid: os.Getpid(), level: &a.level}
	a.log = slog.New(a.handler)
	return a
}

// Main runs the command line with the process's arguments, streams and
// environment and returns the exit status.
func Main(args []string) int {
	a := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	a.interactive = isTerminal(os.Stdin)
	a.colorTerm = isTerminal(os.Stderr)
	a.progressTerm = a.colorTerm
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.run(ctx, args)
}

// commands lists every command; adding one is one file and one line here.
func (a *app) commands() []*cli.Command {
	return []*cli.Command{
		a.formatCommand(),
		a.configCommand(),
		a.destroyCommand(),
		a.statusCommand(),
		a.mdtestCommand(),
		a.dumpCommand(),
		a.loadCommand(),
		a.fsckCommand(),
		a.gcCommand(),
		a.quotaCommand(),
		a.infoCommand(),
		a.summaryCommand(),
		a.rmrCommand(),
		a.restoreCommand(),
		a.cloneCommand(),
		a.catCommand(),
		a.putCommand(),
		a.compactCommand(),
		a.objbenchCommand(),
		a.mountCommand(),
		a.umountCommand(),
		a.warmupCommand(),
		a.statsCommand(),
		a.profileCommand(),
		a.benchCommand(),
		a.versionCommand(),
	}
}

func (a *app) globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"debug", "v"}, Usage: "print debug messages too"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only warnings and errors"},
		&cli.BoolFlag{Name: "trace", Usage: "print trace messages too (more than --verbose)"},
		&cli.StringFlag{Name: "log-level", Hidden: true,
			Usage: "log level: trace, debug, info, warn, error or fatal (overrides --verbose, --quiet and --trace)"},
		&cli.StringFlag{Name: "log-id", Usage: `prefix every log line with this id in brackets; "random" picks a UUID`},
		&cli.BoolFlag{Name: "no-color", Usage: "never colour log levels (they are coloured only on a terminal)"},
		&cli.BoolFlag{Name: "no-agent", Usage: "accepted for compatibility with juicefs; rueidisfs runs no debug agent"},
		&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"},
	}
}

// cliApp builds the urfave application. It is rebuilt for every run: flags
// keep their parsed state inside the flag values.
func (a *app) cliApp() *cli.App {
	ca := &cli.App{
		Name:            a.name,
		Usage:           "A client for JuiceFS 1.4.1 volumes on Redis, built on rueidis",
		UsageText:       a.name + " [global options] command [command options] META-URL [arguments...]",
		HideHelpCommand: true,
		HideVersion:     true, // --version is our own flag: -v means --verbose, as in juicefs
		Flags:           a.globalFlags(),
		Commands:        a.commands(),
		Reader:          a.stdin,
		Writer:          a.stdout,
		ErrWriter:       a.stderr,
		Before:          a.setup,
		Action:          a.rootAction,
		// Errors are printed by run, never by urfave, which would exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error(), usage: a.name + " [global options] command [command options] [arguments...]"}
		},
	}
	for _, cmd := range ca.Commands {
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error(), usage: commandUsage(a.name, cmd)}
		}
	}
	return ca
}

// rootAction runs when no command is given.
func (a *app) rootAction(c *cli.Context) error {
	if c.Bool("version") {
		return a.printVersion()
	}
	if c.Args().Present() {
		return a.unknownCommand(c.Args().First())
	}
	return cli.ShowAppHelp(c)
}

// setup applies the global flags to the logger.
func (a *app) setup(c *cli.Context) error {
	switch c.String("log-level") {
	case "trace":
		a.level.Set(levelTrace)
	case "debug":
		a.level.Set(slog.LevelDebug)
	case "info":
		a.level.Set(slog.LevelInfo)
	case "warn", "warning":
		a.level.Set(slog.LevelWarn)
	case "error":
		a.level.Set(slog.LevelError)
	case "fatal", "panic":
		a.level.Set(levelFatal)
	case "":
		switch {
		case c.Bool("trace"):
			a.level.Set(levelTrace)
		case c.Bool("verbose"):
			a.level.Set(slog.LevelDebug)
		case c.Bool("quiet"):
			a.level.Set(slog.LevelWarn)
		default:
			a.level.Set(slog.LevelInfo)
		}
	default:
		return fmt.Errorf("unknown --log-level %q: use trace, debug, info, warn, error or fatal", c.String("log-level"))
	}
	a.handler.color = a.colorTerm && !c.Bool("no-color")
	if id := c.String("log-id"); id != "" {
		if id == "random" {
			id = a.newID()
		}
		a.handler.logID = id
	}
	return nil
}

// run executes one command line and returns its exit status.
func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		args = []string{a.name}
	}
	ca := a.cliApp()
	err := ca.RunContext(ctx, reorderArgs(ca, args))
	if err == nil && a.lostStats != nil {
		// The command did its work, but statistics it changed are lost.
		err = a.lostStats
	}
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "ERROR: %s\nUSAGE:\n   %s\n", ue.msg, ue.usage)
		return 1
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		a.fatal(msg)
	}
	return code
}

// fatal prints a FATAL line without a caller, whatever the log level.
func (a *app) fatal(msg string) {
	_ = a.handler.Handle(context.Background(), slog.NewRecord(time.Now(), levelFatal, msg, 0))
}
