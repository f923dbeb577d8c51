package cli

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/smallfile"
	"github.com/rueidisfs/rueidisfs/meta"
)

// volumeName is the rule for volume names (they prefix every object key).
var volumeName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func (a *app) formatCommand() *cli.Command {
	flags := append(a.storageFlags(true), dataFormatFlags()...)
	flags = append(flags, managementFlags(true)...)
	flags = append(flags,
		&cli.BoolFlag{Name: "force", Usage: "format a database that holds other keys than a volume's (an existing volume is updated with the options given even without it; changes of name, block size, compression, shards or hash prefix are refused all the same)"},
		&cli.BoolFlag{Name: "no-update", Usage: "leave an existing volume untouched and succeed"},
	)
	return &cli.Command{
		Name:      "format",
		Category:  "ADMIN",
		Usage:     "Format a volume",
		ArgsUsage: "META-URL NAME",
		Description: `Creates a volume named NAME in the Redis database of META-URL: writes its
format (the "setting" key), the root directory and, when the trash is on,
the trash directory, exactly as juicefs format does, so that the official
client can mount it. NAME is 3 to 63 characters from a-z, 0-9 and '-'; it
prefixes every object of the volume in the data storage.

The data storage is tested as juicefs tests it: a test object is written
under testing/, read back and deleted (the bucket is created when that
write fails for another reason than a refusal); a new volume's storage
must hold nothing under NAME/ yet, and gets the object NAME/juicefs_uuid.
JFS_NO_CHECK_OBJECT_STORAGE=1 skips all of that. Storage types rueidisfs
cannot reach (it reaches file, s3 and minio) are recorded without a check.

On a database that already holds the volume, format succeeds and applies
the options given explicitly, as juicefs format does, so scripts may call
it every time (--no-update leaves the volume as it is; "config" offers more
settings). Changes of name, block size, compression, shards or hash prefix
are refused, even with --force (juicefs would make them with --force, and
the objects already stored could no longer be found). A database holding
other keys but no volume is formatted only with --force.

Examples:
  rueidisfs format redis://localhost:6379/1 myjfs
  rueidisfs format redis://localhost:6379/1 myjfs --storage s3 --bucket https://mybucket.s3.us-east-2.amazonaws.com
  rueidisfs format redis://localhost:6379/1 myjfs --trash-days 0 --capacity 100 --inodes 1000000`,
		Flags:  flags,
		Action: a.format,
	}
}

func (a *app) defaultBucket() string {
	if a.isRoot || a.home == "" {
		return "/var/jfs"
	}
	return filepath.Join(a.home, ".juicefs", "local")
}

// storageFlags are the data storage options of format and config; format
// shows its defaults.
func (a *app) storageFlags(withDefaults bool) []cli.Flag {
	const cat = "DATA STORAGE"
	storage := &cli.StringFlag{Name: "storage", Category: cat, Usage: "object storage type (e.g. file, s3, gs, oss, cos, minio)"}
	bucket := &cli.StringFlag{Name: "bucket", Category: cat, Usage: "bucket URL of the object storage (for file: a directory, stored as an absolute path)"}
	if withDefaults {
		storage.Value = "file"
		bucket.Value = a.defaultBucket()
	}
	return []cli.Flag{
		storage, bucket,
		&cli.StringFlag{Name: "access-key", Category: cat, Usage: "access key of the object storage (env ACCESS_KEY)"},
		&cli.StringFlag{Name: "secret-key", Category: cat, Usage: "secret key of the object storage (env SECRET_KEY); stored encrypted with the volume UUID"},
		&cli.StringFlag{Name: "session-token", Category: cat, Usage: "session token of the object storage (env SESSION_TOKEN); stored encrypted with the volume UUID"},
		&cli.StringFlag{Name: "storage-class", Category: cat, Usage: "default storage class of new objects"},
		&cli.StringFlag{Name: "tag", Category: cat, Usage: "object tag key=value (format ignores it, as juicefs does; set it with config)"},
	}
}

func dataFormatFlags() []cli.Flag {
	const cat = "DATA FORMAT"
	return []cli.Flag{
		&cli.StringFlag{Name: "block-size", Category: cat, Value: "4M", Usage: "size of the objects file data is split into; KiB when bare, rounded down to a power of two between 64K and 16M"},
		&cli.StringFlag{Name: "compress", Category: cat, Value: "none", Usage: "compression of the objects: none, lz4 or zstd"},
		&cli.StringFlag{Name: "encrypt-rsa-key", Category: cat, Usage: "path of an RSA private key (PEM) enabling data encryption; the key is stored encrypted in the format"},
		&cli.StringFlag{Name: "encrypt-algo", Category: cat, Value: "aes256gcm-rsa", Usage: "data encryption algorithm: aes256gcm-rsa, chacha20-rsa or sm4gcm"},
		&cli.BoolFlag{Name: "hash-prefix", Category: cat, Usage: "prefix object names with a hash, to spread them over the storage's partitions"},
		&cli.IntFlag{Name: "shards", Category: cat, Usage: "store objects in N buckets chosen by a hash of their key (at most 256; 0 or 1: one bucket)"},
	}
}

// managementFlags are the volume limits and features of format and config.
func managementFlags(withDefaults bool) []cli.Flag {
	const cat = "MANAGEMENT"
	trash := &cli.IntFlag{Name: "trash-days", Category: cat, Usage: "days removed files stay in the trash before they are deleted; 0 disables the trash"}
	if withDefaults {
		trash.Value = 1
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "capacity", Category: cat, Usage: "space quota of the volume; GiB when bare (e.g. 100, 512M, 2T); 0 means unlimited"},
		&cli.Uint64Flag{Name: "inodes", Category: cat, Usage: "inode quota of the volume (files, directories, ...); 0 means unlimited"},
		trash,
		&cli.BoolFlag{Name: "enable-acl", Category: cat, Usage: "enable POSIX ACLs; cannot be disabled afterwards, and requires clients of version 1.2 or newer"},
		&cli.StringFlag{Name: "ranger-rest-url", Category: cat, Usage: "URL of the Apache Ranger admin used for access control (requires clients 1.3+)"},
		&cli.StringFlag{Name: "ranger-service", Category: cat, Usage: "name of the Ranger service of this volume (requires clients 1.3+)"},
		&cli.StringFlag{Name: "kerberos-config-file", Category: cat, Usage: "path of a Kerberos configuration file whose content is stored in the format (requires clients 1.4+)"},
	}
}

// formatOptions are the checked values of the data format flags.
type formatOptions struct {
	blockSizeKiB int
	capacity     uint64
}

func (a *app) checkFormatFlags(c *cli.Context) (formatOptions, error) {
	var o formatOptions
	switch strings.ToLower(c.String("compress")) {
	case "none", "", "lz4", "zstd":
	default:
		return o, fmt.Errorf("unsupported --compress %q: use none, lz4 or zstd", c.String("compress"))
	}
	switch c.String("encrypt-algo") {
	case "aes256gcm-rsa", "chacha20-rsa", codec.AlgoSM4GCM:
	default:
		return o, fmt.Errorf("unsupported --encrypt-algo %q: use aes256gcm-rsa, chacha20-rsa or sm4gcm", c.String("encrypt-algo"))
	}
	if d := c.Int("trash-days"); d < 0 {
		return o, fmt.Errorf("invalid --trash-days %d: it must be 0 (no trash) or more", d)
	}
	if s := c.Int("shards"); s < 0 || s > 256 {
		return o, fmt.Errorf("invalid --shards %d: use 0 to 256", s)
	}
	bs, err := parseBytes("block-size", c.String("block-size"), 'K')
	if err != nil {
		return o, err
	}
	o.blockSizeKiB = int(fixBlockSize(bs, func(m string) { a.log.Warn(m) }) >> 10)
	o.capacity, err = parseBytes("capacity", c.String("capacity"), 'G')
	return o, err
}

func (a *app) format(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	name := c.Args().Get(1)
	if !volumeName.MatchString(name) {
		return fmt.Errorf("invalid volume name %q: use 3 to 63 characters from a-z, 0-9 and '-', starting and ending with a letter or digit", name)
	}
	opts, err := a.checkFormatFlags(c)
	if err != nil {
		return err
	}
	e, err := a.openEngine(c, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context

	var f *codec.Format
	var create, reseal bool
	old, err := e.Load(ctx, false)
	switch {
	case err == nil:
		if c.Bool("no-update") {
			a.log.Info(fmt.Sprintf("Volume %s (UUID %s) exists; --no-update leaves it as it is", old.Name, old.UUID))
			return nil
		}
		f = old.Clone()
		if reseal, err = a.updateFormat(c, f, name, opts); err != nil {
			return err
		}
	case errors.Is(err, meta.ErrNotFormatted):
		n, err := e.Inspect().KeyCount(ctx)
		if err != nil {
			return err
		}
		if n > 0 && !c.Bool("force") {
			return fmt.Errorf("database %s holds %s but no volume: rueidisfs does not format over unrelated data "+
				"(the volume's keys would mix with them, and destroy would delete them too); use an empty database, "+
				"or add --force to format it anyway", e.URL().Redacted(), plural(n, "key"))
		}
		if f, err = a.newFormat(c, name, opts); err != nil {
			return err
		}
		create = true
	default:
		return fmt.Errorf("load the volume format: %w", err)
	}
	if f.Bucket, err = codec.BucketPath(f.Storage, f.Bucket); err != nil {
		return err
	}
	uuidStore, err := a.prepareStorage(ctx, f, create)
	if err != nil {
		return err
	}
	if create || reseal {
		if err := f.EncryptSecrets(a.random); err != nil {
			return fmt.Errorf("encrypt the secrets: %w", err)
		}
	}
	if err := e.Init(ctx, f, false); err != nil {
		if uuidStore != nil {
			_ = uuidStore.Delete(ctx, uuidKey)
		}
		if !create && c.Bool("force") {
			return fmt.Errorf("format: %w (rueidisfs never changes it, even with --force: the objects already stored would no longer be found)", err)
		}
		return fmt.Errorf("format: %w", err)
	}
	a.log.Info("Volume is formatted as " + formatJSON(f))
	return nil
}

// newFormat builds the format of a new volume from the flags.
func (a *app) newFormat(c *cli.Context, name string, opts formatOptions) (*codec.Format, error) {
	sc := c.String("storage-class")
	f := &codec.Format{
		Name:             name,
		UUID:             a.newID(),
		Storage:          c.String("storage"),
		StorageClass:     sc,
		Tiers:            map[uint8]codec.Tier{0: {ID: 0, StorageClass: sc}},
		Bucket:           c.String("bucket"),
		AccessKey:        a.flagOrEnv(c, "access-key", "ACCESS_KEY"),
		SecretKey:        a.flagOrEnv(c, "secret-key", "SECRET_KEY"),
		SessionToken:     a.flagOrEnv(c, "session-token", "SESSION_TOKEN"),
		EncryptAlgo:      c.String("encrypt-algo"),
		Shards:           c.Int("shards"),
		HashPrefix:       c.Bool("hash-prefix"),
		Capacity:         opts.capacity,
		Inodes:           c.Uint64("inodes"),
		BlockSize:        opts.blockSizeKiB,
		Compression:      c.String("compress"),
		TrashDays:        c.Int("trash-days"),
		DirStats:         true,
		MetaVersion:      codec.MaxMetaVersion,
		MinClientVersion: codec.MinClientBase,
		EnableACL:        c.Bool("enable-acl"),
		RangerRestURL:    c.String("ranger-rest-url"),
		RangerService:    c.String("ranger-service"),
	}
	var err error
	if f.EncryptKey, err = readRSAKey(c.String("encrypt-rsa-key")); err != nil {
		return nil, err
	}
	if f.KerbConf, err = readKerberosConf(c.String("kerberos-config-file")); err != nil {
		return nil, err
	}
	if c.IsSet("tag") {
		a.log.Warn("--tag is not recorded by format (as in juicefs); set it with `" + a.name + " config --tag`")
	}
	f.RaiseMinClientVersion()
	return f, nil
}

// updateFormat applies the flags given explicitly to an existing volume's
// format, as juicefs format does for a volume that exists. reseal tells
// that a secret was replaced in a format whose secrets are encrypted.
func (a *app) updateFormat(c *cli.Context, f *codec.Format, name string, opts formatOptions) (reseal bool, err error) {
	f.Name = name
	for _, flag := range c.LocalFlagNames() {
		switch flag {
		case "capacity":
			f.Capacity = opts.capacity
		case "inodes":
			f.Inodes = c.Uint64(flag)
		case "bucket":
			f.Bucket = c.String(flag)
		case "access-key":
			f.AccessKey = c.String(flag)
		case "secret-key", "session-token":
			if f.KeyEncrypted {
				reseal = true
				if err := a.openSecrets(f); err != nil {
					return false, err
				}
			}
			if flag == "secret-key" {
				f.SecretKey = c.String(flag)
			} else {
				f.SessionToken = c.String(flag)
			}
		case "trash-days":
			f.TrashDays = c.Int(flag)
		case "block-size":
			f.BlockSize = opts.blockSizeKiB
		case "compress":
			f.Compression = c.String(flag)
		case "shards":
			f.Shards = c.Int(flag)
		case "hash-prefix":
			f.HashPrefix = c.Bool(flag)
		case "storage":
			f.Storage = c.String(flag)
		case "ranger-rest-url":
			f.RangerRestURL = c.String(flag)
		case "ranger-service":
			f.RangerService = c.String(flag)
		case "kerberos-config-file":
			if f.KerbConf, err = readKerberosConf(c.String(flag)); err != nil {
				return false, err
			}
		case "encrypt-rsa-key", "encrypt-algo", "enable-acl", "storage-class", "tag":
			a.log.Warn(fmt.Sprintf("--%s is ignored for an existing volume (as in juicefs); use `%s config` where it can be changed", flag, a.name))
		}
	}
	f.RaiseMinClientVersion()
	return reseal, nil
}

// openSecrets decrypts the secrets of f so that one can be replaced; a
// secret removed by a dump stays "removed", with a warning.
func (a *app) openSecrets(f *codec.Format) error {
	err := f.DecryptSecrets()
	if err == nil {
		return nil
	}
	if errors.Is(err, codec.ErrSecretRemoved) {
		a.log.Warn(fmt.Sprintf("decrypt secrets: %v", err))
		return nil
	}
	return fmt.Errorf("decrypt the stored secrets: %w", err)
}

func (a *app) flagOrEnv(c *cli.Context, flag, env string) string {
	if v := c.String(flag); v != "" {
		return v
	}
	return a.getenv(env)
}

func readRSAKey(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := smallfile.Read(path, smallfile.Secret)
	if err != nil {
		return "", fmt.Errorf("load the RSA key: %w", err)
	}
	if blk, _ := pem.Decode(b); blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
		return "", fmt.Errorf("load the RSA key: %s holds no PEM private key", path)
	}
	return string(b), nil
}

func readKerberosConf(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := smallfile.Read(path, smallfile.Secret)
	if err != nil {
		return "", fmt.Errorf("load the Kerberos configuration: %w", err)
	}
	return string(b), nil
}

// dataStorage describes where the volume's objects live, e.g.
// "file:///var/jfs/myjfs/" or "s3://mybucket.s3.amazonaws.com/myjfs/".
func dataStorage(f *codec.Format) string {
	b := f.Bucket
	if f.Storage == "file" {
		return "file://" + strings.TrimSuffix(b, "/") + "/" + f.Name + "/"
	}
	if _, rest, ok := strings.Cut(b, "://"); ok {
		b = rest
	}
	return f.Storage + "://" + strings.TrimSuffix(b, "/") + "/" + f.Name + "/"
}

// formatJSON is the format as juicefs shows it: indented, secrets removed.
func formatJSON(f *codec.Format) string {
	b, err := json.MarshalIndent(f.WithoutSecrets(), "", "  ")
	if err != nil {
		return fmt.Sprintf("(cannot encode the format: %v)", err)
	}
	return string(b)
}
