package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/redis/rueidis"
	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) dumpCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "Dump the metadata of a volume into a file",
		ArgsUsage: "META-URL [FILE]",
		Category:  "ADMIN",
		Description: `Writes the volume's metadata in one of JuiceFS 1.4.1's two dump formats, which
the official client loads, as rueidisfs loads its dumps:

- JSON (the default): readable, byte for byte what juicefs dump writes;
  --subdir, --skip-trash and --keep-secret-key choose what goes in.
- binary (--binary): more compact and faster to write and load; the whole
  volume, read in parallel (--threads).

Without FILE the dump goes to stdout; a FILE ending in .gz is gzipped, one
ending in .zstd compressed with Zstandard. The file is written as FILE.tmp
and renamed when complete. A dump is not a snapshot: make the volume quiet
first for a consistent copy.

Examples:
$ rueidisfs dump redis://localhost/1 meta-dump.json
$ rueidisfs dump redis://localhost/1 meta-dump.json.gz --subdir /projects/a
$ rueidisfs dump redis://localhost/1 meta-dump.bin --binary
`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "subdir", Usage: "dump only this directory (it becomes the root when the dump is loaded)"},
			&cli.BoolFlag{Name: "keep-secret-key", Usage: `keep the object storage secret key and session token (otherwise "removed")`},
			&cli.IntFlag{Name: "threads", Value: dump.DefaultThreads, Usage: "number of parallel readers"},
			&cli.BoolFlag{Name: "fast", Usage: "accepted for compatibility with juicefs; ignored for Redis, as juicefs does"},
			&cli.BoolFlag{Name: "skip-trash", Usage: "leave the trash out of the dump"},
			&cli.BoolFlag{Name: "binary", Usage: "write JuiceFS's binary backup format (smaller and faster; --subdir, --fast and --skip-trash do not apply)"},
		},
		Action: a.dump,
	}
}

func (a *app) dump(c *cli.Context) error {
	if err := checkArgs(c, 1, 2); err != nil {
		return err
	}
	threads := c.Int("threads")
	if threads <= 0 {
		a.log.Warn(fmt.Sprintf("--threads %d is not positive; using 1", threads))
		threads = 1
	}
	binary := c.Bool("binary")
	if binary {
		var ignored []string
		for _, f := range []string{"subdir", "fast", "skip-trash"} {
			if c.IsSet(f) {
				ignored = append(ignored, "--"+f)
			}
		}
		if len(ignored) > 0 {
			a.log.Warn(strings.Join(ignored, ", ") + " have no effect on a binary backup, which holds the whole volume (as with juicefs)")
		}
	}
	e, err := a.openEngine(c, meta.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	f, err := e.Load(c.Context, true)
	if err != nil {
		return err
	}
	dst := c.Args().Get(1)
	var w io.Writer = a.stdout
	var out *dump.OutputFile
	if dst != "" {
		if out, err = dump.CreateOutput(dst); err != nil {
			return err
		}
		w = out
	}
	if binary {
		err = a.dumpBinary(c, e, f, w, threads)
	} else {
		prog := a.newProgress()
		prog.Start("Dumped entries", 0)
		err = dump.Dump(c.Context, e, w, dump.DumpOptions{
			Subdir: c.String("subdir"), KeepSecretKey: c.Bool("keep-secret-key"), Threads: threads,
			Fast: c.Bool("fast"), SkipTrash: c.Bool("skip-trash"), Logger: a.log,
			Progress: func(done, total int64) { prog.Set(done, total) },
		})
		prog.Wait()
	}
	if err != nil {
		if out != nil {
			out.Abort()
		}
		return err
	}
	name := "STDOUT"
	if out != nil {
		if err := out.Commit(); err != nil {
			return err
		}
		name = dst
	}
	a.log.Info(fmt.Sprintf("Dump metadata into %q succeed", name))
	return nil
}

func (a *app) loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "Load metadata from a dump into an empty database",
		ArgsUsage: "META-URL [FILE]",
		Category:  "ADMIN",
		Description: `Restores a dump made by "rueidisfs dump" or "juicefs dump" into an empty
database: a JSON dump, or a binary backup with --binary. Without FILE the
dump is read from stdin; a FILE ending in .gz or .zstd is decompressed. The
whole dump is checked before anything is written: a malformed, truncated or
inconsistent one is refused with the byte offset and the reason, and leaves
the database untouched; a failure while writing deletes what was written.
The volume's settings are written last.

With --binary --stat, FILE is not loaded but described: its format version
and, for each type of segment, the number of records (--offset -1: and the
offsets of its segments; --offset N: the records of the segment at byte N).

Examples:
$ rueidisfs load redis://localhost/2 meta-dump.json
$ gzip -dc meta-dump.json.gz | rueidisfs load redis://localhost/2
$ rueidisfs load redis://localhost/2 meta-dump.bin --binary --threads 10
$ rueidisfs load meta-dump.bin --binary --stat
`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tmp-dir", Usage: "directory for the temporary spool of the load (default: the system's)"},
			&cli.IntFlag{Name: "threads", Value: 10, Usage: "segments of a binary backup checked and written in parallel (a JSON dump is loaded in order, as juicefs does)"},
			&cli.BoolFlag{Name: "binary", Usage: "FILE is a binary backup (dump --binary, of rueidisfs or juicefs)"},
			&cli.BoolFlag{Name: "stat", Usage: "with --binary: show the segments of the backup FILE (META-URL may be left out) instead of loading it"},
			&cli.Int64Flag{Name: "offset", Usage: "with --binary --stat: -1 lists the offsets of the segments too; N shows the records of the segment at byte N"},
			&cli.StringFlag{Name: "encrypt-rsa-key", Usage: "the volume's RSA private key (PEM): FILE is an encrypted backup, as a mount of an encrypted volume stores them in its bucket (passphrase in JFS_RSA_PASSPHRASE)"},
			&cli.StringFlag{Name: "encrypt-algo", Value: "aes256gcm-rsa", Usage: "the volume's encryption algorithm, with --encrypt-rsa-key: aes256gcm-rsa or chacha20-rsa"},
		},
		Action: a.load,
	}
}

func (a *app) load(c *cli.Context) error {
	if err := checkArgs(c, 1, 2); err != nil {
		return err
	}
	if c.Bool("stat") || c.IsSet("offset") {
		if !c.Bool("binary") {
			return errors.New("--stat and --offset describe binary backups: add --binary")
		}
		return a.statBackup(c)
	}
	if c.Bool("binary") {
		return a.loadBinary(c)
	}
	if c.IsSet("threads") {
		a.log.Info("--threads has no effect on a JSON dump, which is loaded in order (as juicefs does)")
	}
	// Open the dump first: a missing file is reported before any connection.
	r, name, err := a.openDump(c, c.Args().Get(1))
	if err != nil {
		return err
	}
	defer r.Close()
	e, err := a.openLoadTarget(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	prog := a.newProgress()
	phase := ""
	err = dump.Load(c.Context, e, r, dump.LoadOptions{
		TempDir: c.String("tmp-dir"), Logger: a.log,
		Progress: func(p string, done, total int64) {
			if p != phase {
				phase = p
				prog.Start(map[string]string{"parse": "Checked entries", "write": "Written commands"}[p], int(total))
			}
			prog.Set(done, total)
		},
	})
	prog.Wait()
	if err != nil {
		return err
	}
	return a.loaded(c, e, name)
}

// openLoadTarget opens the database a load writes to, refusing one that
// holds a volume. Close the engine with closeEngine.
func (a *app) openLoadTarget(c *cli.Context) (*meta.Engine, error) {
	e, err := a.openEngine(c, meta.Options{})
	if err != nil {
		return nil, err
	}
	if err := a.refuseFormatted(c, e); err != nil {
		a.closeEngine(e)
		return nil, err
	}
	return e, nil
}

// refuseFormatted refuses to load into a database that holds a volume.
func (a *app) refuseFormatted(c *cli.Context, e *meta.Engine) error {
	// Read the setting past the client-side cache: a cached "no setting"
	// could outlive the load (whose writes invalidate it only when
	// Redis's invalidation message arrives) and fail the final Load.
	rdb := e.Client()
	v, err := rdb.Do(c.Context, rdb.B().Get().Key(e.Keys().Setting()).Build()).ToString()
	switch {
	case err == nil:
		name := "?"
		if f, err := codec.ParseSetting([]byte(v)); err == nil {
			name = f.Name
		}
		return fmt.Errorf("database %s is used by volume %s", e.URL().Redacted(), name)
	case !rueidis.IsRedisNil(err):
		return fmt.Errorf("read the setting: %w", err)
	}
	return nil
}

// loaded ends a load: the volume must open for this client, and a secret
// key removed from the dump must be set again.
func (a *app) loaded(c *cli.Context, e *meta.Engine, name string) error {
	f, err := e.Load(c.Context, true)
	if err != nil {
		return err
	}
	if f.SecretKey == "removed" {
		a.log.Warn("the secret key was removed from the dump: set it again with `rueidisfs config META-URL --secret-key ...`")
	}
	a.log.Info(fmt.Sprintf("Load metadata from %q succeed", name))
	return nil
}
