package cli

import (
	"errors"
	"fmt"
	"io"

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
		Description: `Writes the volume's metadata in JuiceFS 1.4.1's JSON dump format (the
official client can load it, and rueidisfs loads the official client's
dumps). Without FILE the dump goes to stdout; a FILE ending in .gz is gzipped.
The file is written as FILE.tmp and renamed when complete. The dump is not a
snapshot: make the volume quiet first for a consistent copy.

Examples:
$ rueidisfs dump redis://localhost/1 meta-dump.json
$ rueidisfs dump redis://localhost/1 meta-dump.json.gz --subdir /projects/a`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "subdir", Usage: "dump only this directory (it becomes the root when the dump is loaded)"},
			&cli.BoolFlag{Name: "keep-secret-key", Usage: `keep the object storage secret key and session token (otherwise "removed")`},
			&cli.IntFlag{Name: "threads", Value: dump.DefaultThreads, Usage: "number of parallel readers"},
			&cli.BoolFlag{Name: "fast", Usage: "accepted for compatibility with juicefs; ignored for Redis, as juicefs does"},
			&cli.BoolFlag{Name: "skip-trash", Usage: "leave the trash out of the dump"},
			&cli.BoolFlag{Name: "binary", Usage: "binary (protobuf) backup format: not supported by rueidisfs"},
		},
		Action: a.dump,
	}
}

func (a *app) dump(c *cli.Context) error {
	if err := checkArgs(c, 1, 2); err != nil {
		return err
	}
	if c.Bool("binary") {
		return errors.New("--binary: the binary backup format is not supported by rueidisfs; use the JSON format")
	}
	threads := c.Int("threads")
	if threads <= 0 {
		a.log.Warn(fmt.Sprintf("--threads %d is not positive; using 1", threads))
		threads = 1
	}
	e, err := a.openEngine(c, meta.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	if _, err := e.Load(c.Context, true); err != nil {
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
	prog := a.newProgress()
	prog.Start("Dumped entries", 0)
	err = dump.Dump(c.Context, e, w, dump.DumpOptions{
		Subdir: c.String("subdir"), KeepSecretKey: c.Bool("keep-secret-key"), Threads: threads,
		Fast: c.Bool("fast"), SkipTrash: c.Bool("skip-trash"), Logger: a.log,
		Progress: func(done, total int64) { prog.Set(done, total) },
	})
	prog.Wait()
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
		Description: `Restores a dump made by "rueidisfs dump" or "juicefs dump" (JSON format)
into an empty database. Without FILE the dump is read from stdin; a FILE
ending in .gz is decompressed. The whole document is checked before anything
is written: a malformed, truncated or inconsistent dump is rejected with the
position and the reason, and leaves the database untouched.

Examples:
$ rueidisfs load redis://localhost/2 meta-dump.json
$ gzip -dc meta-dump.json.gz | rueidisfs load redis://localhost/2`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tmp-dir", Usage: "directory for the temporary spool of the load (default: the system's)"},
			&cli.IntFlag{Name: "threads", Value: 10, Usage: "parallel writers of a binary backup (a JSON dump is written by one, as juicefs does)"},
			&cli.BoolFlag{Name: "binary", Usage: "FILE is a binary backup (juicefs dump --binary): not supported by rueidisfs yet"},
			&cli.BoolFlag{Name: "stat", Usage: "with --binary: show the segments of a binary backup instead of loading it (not supported yet)"},
			&cli.Int64Flag{Name: "offset", Usage: "with --binary --stat: -1 lists the segments' offsets, N shows the segment at offset N (not supported yet)"},
			&cli.StringFlag{Name: "encrypt-rsa-key", Usage: "RSA private key (PEM) of an encrypted backup: not supported by rueidisfs yet (decrypt it with juicefs first)"},
			&cli.StringFlag{Name: "encrypt-algo", Value: "aes256gcm-rsa", Usage: "algorithm of an encrypted backup: aes256gcm-rsa or chacha20-rsa (with --encrypt-rsa-key)"},
		},
		Action: a.load,
	}
}

func (a *app) load(c *cli.Context) error {
	if err := checkArgs(c, 1, 2); err != nil {
		return err
	}
	if c.Bool("binary") || c.Bool("stat") || c.IsSet("offset") {
		return errors.New("--binary, --stat, --offset: binary backups (juicefs dump --binary) are not supported by rueidisfs yet; load a JSON dump (dump without --binary)")
	}
	if c.IsSet("encrypt-rsa-key") {
		return errors.New("--encrypt-rsa-key: encrypted backups are not supported by rueidisfs yet; decrypt the backup with juicefs load --encrypt-rsa-key into a database, dump it as JSON, and load that")
	}
	if c.IsSet("threads") {
		a.log.Info("--threads has no effect on a JSON dump, which is loaded in order (as juicefs does)")
	}
	// Open the dump first: a missing file is reported before any connection.
	src := c.Args().Get(1)
	var r io.ReadCloser = io.NopCloser(a.stdin)
	name := "STDIN"
	if src != "" {
		var err error
		if r, err = dump.OpenInput(src); err != nil {
			return fmt.Errorf("open the dump: %w", err)
		}
		name = src
	}
	defer r.Close()
	e, err := a.openEngine(c, meta.Options{})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	// Read the setting past the client-side cache: a cached "no setting"
	// could outlive the load below (whose writes invalidate it only when
	// Redis's invalidation message arrives) and fail the final Load.
	rdb := e.Client()
	if v, err := rdb.Do(c.Context, rdb.B().Get().Key(e.Keys().Setting()).Build()).ToString(); err == nil {
		name := "?"
		if f, err := codec.ParseSetting([]byte(v)); err == nil {
			name = f.Name
		}
		return fmt.Errorf("database %s is used by volume %s", e.URL().Redacted(), name)
	} else if !rueidis.IsRedisNil(err) {
		return fmt.Errorf("read the setting: %w", err)
	}
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
