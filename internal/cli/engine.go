package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/metaurl"
)

// Helpers shared by the commands.

// openEngine connects to the volume named by the command's first argument,
// the META-URL. It logs the meta address (password masked) first, as juicefs
// does, and gives the engine the command line's logger and environment.
// Close the engine with closeEngine.
func (a *app) openEngine(c *cli.Context, opts meta.Options) (*meta.Engine, error) {
	return a.openEngineAt(c, c.Args().First(), opts)
}

// openEngineAt is openEngine for the volume of the META-URL raw.
func (a *app) openEngineAt(c *cli.Context, raw string, opts meta.Options) (*meta.Engine, error) {
	cfg, _, err := metaurl.Parse(raw, a.getenv)
	if err != nil {
		return nil, err
	}
	a.log.Info("Meta address: " + cfg.Redacted())
	opts.Logger = a.log
	opts.Getenv = a.getenv
	if opts.MountPoint == "" {
		opts.MountPoint = a.name + " " + c.Command.Name
	}
	return meta.Open(c.Context, raw, opts)
}

// openVolume opens the volume for a tool that works on its metadata
// (destroy, fsck, gc, info, quota, rmr, summary): an engine without
// background jobs, and the volume's format, refused when its version limits
// exclude this client. Close the engine with closeEngine.
func (a *app) openVolume(c *cli.Context) (*meta.Engine, *codec.Format, error) {
	return a.openVolumeWith(c, meta.Options{NoBackgroundJobs: true})
}

// openVolumeWith is openVolume with other engine options.
func (a *app) openVolumeWith(c *cli.Context, opts meta.Options) (*meta.Engine, *codec.Format, error) {
	return a.openVolumeAt(c, c.Args().First(), opts)
}

// openVolumeAt is openVolumeWith for the volume of the META-URL raw.
func (a *app) openVolumeAt(c *cli.Context, raw string, opts meta.Options) (*meta.Engine, *codec.Format, error) {
	e, err := a.openEngineAt(c, raw, opts)
	if err != nil {
		return nil, nil, err
	}
	f, err := e.Load(c.Context, true)
	if err != nil {
		a.closeEngine(e)
		return nil, nil, fmt.Errorf("load setting: %w", err)
	}
	return e, f, nil
}

// closeEngine closes e, logging (not returning) a failure: by then the
// command has done its work or is already failing.
func (a *app) closeEngine(e *meta.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Close(ctx); errors.Is(err, meta.ErrStatsNotStored) {
		a.lostStats = fmt.Errorf("close the metadata engine: %w", err)
	} else if err != nil {
		a.log.Warn(fmt.Sprintf("close the metadata engine: %v", err))
	}
}

// printJSON writes v to stdout as JSON indented by two spaces, the way
// juicefs prints machine-readable output.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// warn prints a warning addressed to the person at the terminal (before a
// confirmation prompt) on stdout, as juicefs does.
func (a *app) warn(format string, args ...any) {
	label := "WARNING"
	if a.handler.color {
		label = "\033[1;33mWARNING\033[0m"
	}
	fmt.Fprintf(a.stdout, label+": "+format+"\n", args...)
}

// confirm asks "Proceed anyway? [y/N]" unless yes is set. Without a
// terminal on stdin nobody can answer, so it refuses and says how to
// proceed. An interrupt (ctx cancelled) while waiting is a refusal.
func (a *app) confirm(ctx context.Context, yes bool) error {
	if yes {
		return nil
	}
	if !a.interactive {
		return errors.New("confirmation needed, but standard input is not a terminal; add --yes to proceed")
	}
	fmt.Fprint(a.stdout, "Proceed anyway? [y/N]: ")
	for {
		line, err := a.readLine(ctx)
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return nil
		case "", "n", "no":
			if err != nil {
				fmt.Fprintln(a.stdout) // the answer did not end the line
			}
			return errAborted
		}
		if err != nil {
			fmt.Fprintln(a.stdout)
			return errAborted
		}
		fmt.Fprint(a.stdout, "Please input y(yes) or n(no): ")
	}
}

// readLine reads one line of stdin, giving up when ctx is done (the read
// itself cannot be interrupted; the process is about to exit then).
func (a *app) readLine(ctx context.Context) (string, error) {
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := a.stdin.ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
