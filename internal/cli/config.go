package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) configCommand() *cli.Command {
	flags := a.storageFlags(false)
	flags = append(flags,
		&cli.StringFlag{Name: "upload-limit", Category: "DATA STORAGE", Usage: "default upload bandwidth limit of a client, in Mbps (units M, G, T, P); 0 means unlimited"},
		&cli.StringFlag{Name: "download-limit", Category: "DATA STORAGE", Usage: "default download bandwidth limit of a client, in Mbps (units M, G, T, P); 0 means unlimited"},
	)
	flags = append(flags, managementFlags(false)...)
	const cat = "MANAGEMENT"
	flags = append(flags,
		&cli.BoolFlag{Name: "encrypt-secret", Category: cat, Usage: "encrypt the secrets with the volume UUID if they are stored in plain text"},
		&cli.StringFlag{Name: "min-client-version", Category: cat, Usage: "oldest client version allowed to use the volume (cannot be lowered)"},
		&cli.StringFlag{Name: "max-client-version", Category: cat, Usage: "newest client version allowed to use the volume; empty means no limit"},
		&cli.BoolFlag{Name: "dir-stats", Category: cat, Usage: "keep directory statistics (needed by directory quotas and fast summaries); --dir-stats=false disables them"},
		&cli.BoolFlag{Name: "user-group-quota", Category: cat, Usage: "enable user and group quotas"},
		&cli.BoolFlag{Name: "changelog", Category: cat, Usage: "record every metadata change in the change log"},
		&cli.DurationFlag{Name: "changelog-max-age", Category: cat, Value: 2 * time.Hour, Usage: "drop change log entries older than this (e.g. 2h, 30m); 0 keeps them regardless of age"},
		&cli.Int64Flag{Name: "changelog-max-lines", Category: cat, Usage: "keep at most this many change log entries; 0 means no limit"},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "answer yes to every confirmation question (needed when standard input is not a terminal)"},
		&cli.BoolFlag{Name: "force", Usage: "skip the sanity checks and confirmations (usage above the new quota, emptying the trash, rejected clients, directory quotas)"},
	)
	return &cli.Command{
		Name:      "config",
		Category:  "ADMIN",
		Usage:     "Show or change the configuration of a volume",
		ArgsUsage: "META-URL",
		Description: `Without options, prints the volume format as JSON (secrets removed). With
options, changes only the settings given and prints each change as
"setting: old -> new". Changes that could hurt ask for confirmation:
a quota below the current usage, --trash-days 0 (the trash is emptied),
client version limits that reject connected clients. Block size, compression
and the other data format settings cannot be changed.

Examples:
  rueidisfs config redis://localhost:6379/1
  rueidisfs config redis://localhost:6379/1 --capacity 1024 --inodes 10000000
  rueidisfs config redis://localhost:6379/1 --trash-days 7
  rueidisfs config redis://localhost:6379/1 --min-client-version 1.1.0 --max-client-version 1.5.0`,
		Flags:  flags,
		Action: a.config,
	}
}

// configRun is one run of `config`: the format being changed and what the
// changes require.
type configRun struct {
	a     *app
	c     *cli.Context
	f     *codec.Format
	msg   strings.Builder
	reqMV string // the MinClientVersion the changes require
	// kinds of change that need checks
	quota, storage, trash, clientVer bool
}

func (r *configRun) change(name string, old, new any) {
	fmt.Fprintf(&r.msg, "%10s: %v -> %v\n", name, old, new)
}

func (a *app) config(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	e, err := a.openEngine(c, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	old, err := e.Load(ctx, false)
	if err != nil {
		return fmt.Errorf("load the volume format: %w", err)
	}
	names := c.LocalFlagNames()
	if len(names) == 0 {
		_, err := fmt.Fprintln(a.stdout, formatJSON(old))
		return err
	}
	sort.Strings(names)
	r := &configRun{a: a, c: c, f: old.Clone()}
	encrypted := old.KeyEncrypted
	for _, name := range names {
		if err := r.apply(name); err != nil {
			return err
		}
	}
	if codec.CompareVersionLimits(r.f.MinClientVersion, r.reqMV) < 0 {
		fmt.Fprintf(&r.msg, "min-client-version: %s -> %s\n", r.f.MinClientVersion, r.reqMV)
		r.f.MinClientVersion = r.reqMV
		r.clientVer = true
	}
	if r.msg.Len() == 0 {
		_, err := fmt.Fprintln(a.stdout, "Nothing changed.")
		return err
	}
	if !c.Bool("force") {
		if err := r.check(ctx, e, old); err != nil {
			return err
		}
	}
	if encrypted || c.Bool("encrypt-secret") {
		if err := r.f.EncryptSecrets(a.random); err != nil {
			return fmt.Errorf("encrypt the secrets: %w", err)
		}
	}
	if err := e.Init(ctx, r.f, false); err != nil {
		return fmt.Errorf("update the volume format: %w", err)
	}
	fmt.Fprint(a.stdout, r.msg.String())
	if !old.UserGroupQuota && r.f.UserGroupQuota {
		// Enabling dropped the user/group hashes: count the existing usage.
		a.log.Info("Scanning the usage of every user and group")
		if err := e.Quotas().ScanUserGroupUsage(ctx); err != nil {
			return fmt.Errorf("scan user and group usage: %w", err)
		}
	}
	return nil
}

// apply records the change one flag asks for.
func (r *configRun) apply(flag string) error {
	c, f := r.c, r.f
	switch flag {
	case "capacity":
		v, err := parseBytes(flag, c.String(flag), 'G')
		if err != nil {
			return err
		}
		if v != f.Capacity {
			r.change(flag, formatIBytes(f.Capacity), formatIBytes(v))
			f.Capacity, r.quota = v, true
		}
	case "inodes":
		if v := c.Uint64(flag); v != f.Inodes {
			r.change(flag, formatComma(int64(f.Inodes)), formatComma(int64(v)))
			f.Inodes, r.quota = v, true
		}
	case "storage":
		if v := c.String(flag); v != f.Storage {
			r.change(flag, f.Storage, v)
			f.Storage, r.storage = v, true
		}
	case "bucket":
		v := c.String(flag)
		storage := f.Storage
		if c.IsSet("storage") {
			storage = c.String("storage")
		}
		v, err := codec.BucketPath(storage, v)
		if err != nil {
			return err
		}
		if v != f.Bucket {
			r.change(flag, f.Bucket, v)
			f.Bucket, r.storage = v, true
		}
	case "access-key":
		if v := c.String(flag); v != f.AccessKey {
			r.change(flag, f.AccessKey, v)
			f.AccessKey, r.storage = v, true
		}
	case "secret-key", "session-token":
		fmt.Fprintf(&r.msg, "%10s: updated\n", flag)
		if err := r.a.openSecrets(f); err != nil {
			return err
		}
		if flag == "secret-key" {
			f.SecretKey = c.String(flag)
		} else {
			f.SessionToken = c.String(flag)
		}
		r.storage = true
	case "storage-class", "tag":
		return r.applyTier(flag)
	case "upload-limit", "download-limit":
		v, err := parseMbps(flag, c.String(flag))
		if err != nil {
			return err
		}
		p := &f.UploadLimit
		if flag == "download-limit" {
			p = &f.DownloadLimit
		}
		if v != *p {
			r.change(flag, formatMbps(*p), formatMbps(v))
			*p = v
		}
	case "trash-days":
		if v := c.Int(flag); v != f.TrashDays {
			if v < 0 {
				return fmt.Errorf("invalid --trash-days %d: it must be 0 (no trash) or more", v)
			}
			r.change(flag, f.TrashDays, v)
			f.TrashDays, r.trash = v, true
		}
	case "dir-stats":
		if v := c.Bool(flag); v != f.DirStats {
			r.change(flag, f.DirStats, v)
			f.DirStats = v
		}
	case "user-group-quota":
		if v := c.Bool(flag); v != f.UserGroupQuota {
			r.change(flag, f.UserGroupQuota, v)
			f.UserGroupQuota = v
		}
	case "changelog", "changelog-max-age", "changelog-max-lines":
		return r.applyChangelog(flag)
	case "min-client-version", "max-client-version", "enable-acl", "ranger-rest-url", "ranger-service", "kerberos-config-file":
		return r.applyClientLimits(flag)
	}
	return nil
}

func (r *configRun) applyTier(flag string) error {
	f := r.f
	t := f.EffectiveTiers()[0]
	v := r.c.String(flag)
	cur := &t.StorageClass
	if flag == "tag" {
		if k, val, ok := strings.Cut(v, "="); v != "" && (!ok || k == "" || val == "" || strings.Contains(val, "=")) {
			return fmt.Errorf("invalid --tag %q: use key=value", v)
		}
		cur = &t.Tag
	}
	if v != *cur {
		r.change(flag, *cur, v)
		*cur = v
		if f.Tiers == nil {
			f.Tiers = map[uint8]codec.Tier{}
		}
		f.Tiers[0] = t
		r.storage = true
	}
	return nil
}

func (r *configRun) applyChangelog(flag string) error {
	c, f := r.c, r.f
	switch flag {
	case "changelog":
		if v := c.Bool(flag); v != f.ChangeLog {
			r.change(flag, f.ChangeLog, v)
			f.ChangeLog = v
			if v && f.ChangeLogMaxAge == 0 && !c.IsSet("changelog-max-age") {
				f.ChangeLogMaxAge = 7200
				fmt.Fprintf(&r.msg, "%10s: 0s -> %s (default)\n", "changelog-max-age", 2*time.Hour)
			}
		}
	case "changelog-max-age":
		d := c.Duration(flag)
		if d < 0 {
			return fmt.Errorf("invalid --changelog-max-age %s: it must not be negative", d)
		}
		if v := int64(d.Seconds()); v != f.ChangeLogMaxAge {
			r.change(flag, time.Duration(f.ChangeLogMaxAge)*time.Second, d)
			f.ChangeLogMaxAge = v
		}
	case "changelog-max-lines":
		if v := c.Int64(flag); v != f.ChangeLogMaxLines {
			if v < 0 {
				return fmt.Errorf("invalid --changelog-max-lines %d: it must not be negative", v)
			}
			r.change(flag, f.ChangeLogMaxLines, v)
			f.ChangeLogMaxLines = v
		}
	}
	return nil
}

// requireMinVersion notes that the changes need clients of at least v.
func (r *configRun) requireMinVersion(v string) { r.reqMV = codec.HigherVersionLimit(r.reqMV, v) }

func (r *configRun) applyClientLimits(flag string) error {
	c, f := r.c, r.f
	switch flag {
	case "min-client-version":
		if v := c.String(flag); v != f.MinClientVersion {
			if _, err := codec.ParseVersion(v); err != nil {
				return fmt.Errorf("invalid --min-client-version: %w", err)
			}
			if codec.CompareVersionLimits(v, f.MinClientVersion) < 0 {
				return fmt.Errorf("cannot lower min-client-version from %s to %s", f.MinClientVersion, v)
			}
			r.requireMinVersion(v)
		}
	case "max-client-version":
		if v := c.String(flag); v != f.MaxClientVersion {
			if v != "" {
				if _, err := codec.ParseVersion(v); err != nil {
					return fmt.Errorf("invalid --max-client-version: %w", err)
				}
			}
			fmt.Fprintf(&r.msg, "%s: %s -> %s\n", flag, f.MaxClientVersion, v)
			f.MaxClientVersion, r.clientVer = v, true
		}
	case "enable-acl":
		if v := c.Bool(flag); v != f.EnableACL {
			if !v {
				return errors.New("cannot disable ACL: once enabled, POSIX ACLs stay enabled")
			}
			fmt.Fprintf(&r.msg, "%s: %v -> %v\n", flag, false, true)
			f.EnableACL = true
			r.requireMinVersion(codec.MinClientACL)
		}
	case "ranger-rest-url", "ranger-service":
		p := &f.RangerRestURL
		if flag == "ranger-service" {
			p = &f.RangerService
		}
		if v := c.String(flag); v != *p {
			fmt.Fprintf(&r.msg, "%s: %s -> %s\n", flag, *p, v)
			*p = v
			r.requireMinVersion(codec.MinClientRanger)
		}
	case "kerberos-config-file":
		conf, err := readKerberosConf(c.String(flag))
		if err != nil {
			return err
		}
		fmt.Fprintf(&r.msg, "%s: updated\n", flag)
		f.KerbConf = conf
		r.requireMinVersion(codec.MinClientKerberos)
	}
	return nil
}

// check runs the sanity checks of the changes, asking for confirmation
// where juicefs does.
func (r *configRun) check(ctx context.Context, e *meta.Engine, old *codec.Format) error {
	a, f, yes := r.a, r.f, r.c.Bool("yes")
	if r.storage {
		if err := a.checkNewStorage(ctx, f); err != nil {
			return err
		}
	}
	if r.quota {
		st := e.StatFS(ctx, meta.RootInode)
		used := st.TotalSpace - st.AvailSpace
		if f.Capacity > 0 && used >= f.Capacity || f.Inodes > 0 && st.UsedInodes >= f.Inodes {
			a.warn("New quota is too small (used / quota): %d / %d bytes, %d / %d inodes.", used, f.Capacity, st.UsedInodes, f.Inodes)
			if err := a.confirm(ctx, yes); err != nil {
				return err
			}
		}
	}
	if r.trash && f.TrashDays == 0 {
		a.warn("The current trash will be emptied and future removed files will purged immediately.")
		if err := a.confirm(ctx, yes); err != nil {
			return err
		}
	}
	if old.DirStats && !f.DirStats {
		dirs, err := e.Inspect().DirQuotaInodes(ctx)
		if err != nil {
			return fmt.Errorf("list directory quotas: %w", err)
		}
		if len(dirs) > 0 {
			paths := make([]string, len(dirs))
			for i, d := range dirs {
				paths[i] = fmt.Sprintf("inode %d", d)
				if ps, err := e.GetPaths(ctx, d); err == nil && len(ps) > 0 {
					paths[i] = ps[0]
				}
			}
			return fmt.Errorf("cannot disable dir stats when there are still %d dir quotas: %v", len(dirs), paths)
		}
	}
	if r.clientVer {
		return r.checkClients(ctx, e)
	}
	return nil
}

// checkClients warns about clients the new version limits reject (this
// one and the connected sessions) and asks for confirmation.
func (r *configRun) checkClients(ctx context.Context, e *meta.Engine) error {
	a, f := r.a, r.f
	ask := false
	if err := meta.CheckCompatible(f); err != nil {
		a.warn("This client (%s) will be rejected after the change: %v", meta.Version, err)
		ask = true
	}
	sessions, err := e.Inspect().Sessions(ctx)
	if err != nil {
		a.log.Warn(fmt.Sprintf("list sessions: %v", err))
	}
	var rejected strings.Builder
	for _, s := range sessions {
		v, err := codec.ParseVersion(s.Version)
		if err == nil {
			err = f.CheckVersion(v)
		}
		if err != nil {
			fmt.Fprintf(&rejected, "host %s pid %d client version error: %s\n", s.HostName, s.ProcessID, err)
		}
	}
	if rejected.Len() > 0 {
		fmt.Fprintln(a.stdout, rejected.String())
		ask = true
	}
	if ask {
		return a.confirm(ctx, r.c.Bool("yes"))
	}
	return nil
}
