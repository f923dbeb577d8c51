package cli

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) quotaCommand() *cli.Command {
	sub := func(name, alias, usage string) *cli.Command {
		cmd := &cli.Command{
			Name:            name,
			HelpName:        a.name + " quota " + name,
			Usage:           usage,
			ArgsUsage:       "META-URL",
			Flags:           quotaFlags(),
			HideHelpCommand: true,
			Action:          func(c *cli.Context) error { return a.quota(c, name) },
		}
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error(), usage: commandUsage(a.name, cmd)}
		}
		if alias != "" {
			cmd.Aliases = []string{alias}
		}
		return cmd
	}
	return &cli.Command{
		Name:      "quota",
		Usage:     "Manage directory, user and group quotas",
		UsageText: "rueidisfs quota set|get|delete|list|check [command options] META-URL",
		ArgsUsage: "META-URL",
		Category:  "ADMIN",
		Description: `Sets, shows, removes, lists and checks the quotas of directories (--path,
a path inside the volume), users (--uid) and groups (--gid), as juicefs quota
does. Without a target, list lists every quota and check checks the user and
group quotas against a scan of the whole volume.

Examples:
$ rueidisfs quota set redis://localhost/1 --path /dir1 --capacity 1 --inodes 100
$ rueidisfs quota get redis://localhost/1 --path /dir1
$ rueidisfs quota list redis://localhost/1
$ rueidisfs quota delete redis://localhost/1 --path /dir1
$ rueidisfs quota check redis://localhost/1 --path /dir1 --repair
$ rueidisfs quota set redis://localhost/1 --uid 1000 --capacity 2 --inodes 200
$ rueidisfs quota set redis://localhost/1 --gid 100 --capacity 5T`,
		HideHelpCommand:    true,
		CustomHelpTemplate: cli.SubcommandHelpTemplate, // list the sub-commands in --help too
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{msg: fmt.Sprintf("unknown quota command %q: use set, get, delete, list or check", c.Args().First()),
					usage: "rueidisfs quota set|get|delete|list|check [command options] META-URL"}
			}
			return cli.ShowSubcommandHelp(c)
		},
		Subcommands: []*cli.Command{
			sub("set", "", "Set quota to a directory, user, or group"),
			sub("get", "", "Get quota of a directory, user, or group"),
			sub("delete", "del", "Delete quota of a directory, user, or group"),
			sub("list", "ls", "List all quotas (directory, user, and group)"),
			sub("check", "", "Check quota consistency of a directory, user, or group"),
		},
	}
}

// quotaFlags are the flags of every quota sub-command (juicefs accepts all
// of them everywhere and ignores those a sub-command does not use).
func quotaFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "path", Usage: "full path of the directory within the volume"},
		&cli.Uint64Flag{Name: "uid", Usage: "user ID for user quota management (not 0)"},
		&cli.Uint64Flag{Name: "gid", Usage: "group ID for group quota management"},
		&cli.StringFlag{Name: "capacity", Usage: "set: hard limit of space, in GiB unless a unit is given (K, M, G, T, P, E)"},
		&cli.Uint64Flag{Name: "inodes", Usage: "set: hard limit of the number of inodes"},
		&cli.BoolFlag{Name: "create", Usage: "set: create the directory (and missing parents) if it does not exist"},
		&cli.BoolFlag{Name: "repair", Usage: "check: store the recounted usage when it differs"},
		&cli.BoolFlag{Name: "strict", Usage: "set, check: count directory usage entry by entry instead of trusting directory statistics (slow for huge trees)"},
	}
}

// quotaTarget is what a quota command is about.
type quotaTarget struct {
	qtype codec.QuotaType
	key   string // the path, uid or gid as given
}

func quotaTargetOf(c *cli.Context, cmd string) (quotaTarget, error) {
	id := func(name string) (string, error) {
		v := c.Uint64(name)
		if v == 0 && name == "uid" {
			return "", errors.New("invalid --uid: 0 is not allowed")
		}
		if v > math.MaxUint32 {
			return "", fmt.Errorf("invalid --%s: %d exceeds maximum value %d", name, v, uint32(math.MaxUint32))
		}
		return strconv.FormatUint(v, 10), nil
	}
	switch {
	case c.IsSet("uid"):
		if c.IsSet("gid") {
			return quotaTarget{}, errors.New("cannot specify both --uid and --gid at the same time")
		}
		if c.IsSet("path") {
			return quotaTarget{}, errors.New("cannot specify both --uid and --path at the same time")
		}
		k, err := id("uid")
		return quotaTarget{meta.QuotaUser, k}, err
	case c.IsSet("gid"):
		if c.IsSet("path") {
			return quotaTarget{}, errors.New("cannot specify both --gid and --path at the same time")
		}
		k, err := id("gid")
		return quotaTarget{meta.QuotaGroup, k}, err
	case c.IsSet("path"):
		return quotaTarget{meta.QuotaDir, c.String("path")}, nil
	case cmd == "list":
		return quotaTarget{qtype: meta.QuotaAll}, nil
	case cmd == "check":
		return quotaTarget{qtype: meta.QuotaUser}, nil // users and groups
	}
	return quotaTarget{}, errors.New("please specify the directory with `--path <dir>` option or specify user/group with `--uid <uid>`/`--gid <gid>` option")
}

func (a *app) quota(c *cli.Context, cmd string) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	t, err := quotaTargetOf(c, cmd)
	if err != nil {
		return err
	}
	limits := meta.Quota{MaxSpace: -1, MaxInodes: -1} // -1: unchanged
	if cmd == "set" {
		if c.IsSet("capacity") {
			v, err := parseBytes("capacity", c.String("capacity"), 'G')
			if err != nil {
				return err
			}
			limits.MaxSpace = int64(min(v, math.MaxInt64))
		}
		if c.IsSet("inodes") {
			limits.MaxInodes = int64(min(c.Uint64("inodes"), math.MaxInt64))
		}
	}
	e, _, err := a.openVolume(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	rows := map[string]meta.Quota{}
	switch cmd {
	case "set":
		if _, err := e.Quotas().Set(ctx, t.qtype, t.key, limits.MaxSpace, limits.MaxInodes, c.Bool("strict"), c.Bool("create")); err != nil {
			return err
		}
		rows[t.key] = limits // juicefs shows what was asked for
	case "get":
		q, err := e.Quotas().Get(ctx, t.qtype, t.key)
		if err != nil {
			return err
		}
		if q != nil {
			rows[t.key] = *q
		}
	case "delete":
		return e.Quotas().Delete(ctx, t.qtype, t.key)
	case "list":
		if rows, err = e.Quotas().List(ctx, t.qtype, t.key); err != nil {
			return err
		}
	case "check":
		if rows, err = a.checkQuota(c, e, t); err != nil {
			return err
		}
	}
	header := "Path/ID"
	switch {
	case cmd == "check" && t.qtype != meta.QuotaDir:
		header = "User/Group ID" // every user and group quota is checked
	case t.qtype == meta.QuotaUser:
		header = "User ID"
	case t.qtype == meta.QuotaGroup:
		header = "Group ID"
	case t.qtype == meta.QuotaDir:
		header = "Path"
	}
	a.printQuotas(header, rows)
	return nil
}

// checkQuota runs quota check and logs what juicefs logs.
func (a *app) checkQuota(c *cli.Context, e *meta.Engine, t quotaTarget) (map[string]meta.Quota, error) {
	repair := c.Bool("repair")
	if t.qtype != meta.QuotaDir {
		res, err := e.Quotas().Check(c.Context, t.qtype, t.key, false, repair)
		if res != nil {
			for _, m := range res.Mismatches {
				switch {
				case m.Missing:
					a.log.Warn(fmt.Sprintf("%s: quota not found, actual usage(%s, %s)", m.Key, formatComma(m.Actual.Inodes), formatIBytes(uint64(max(m.Actual.Space, 0)))))
				case m.Actual == (meta.QuotaUsage{}):
					a.log.Warn(fmt.Sprintf("%s: usage missing, but quota usage is (%s, %s)", m.Key, formatComma(m.Stored.UsedInodes), formatIBytes(uint64(max(m.Stored.UsedSpace, 0)))))
				default:
					a.log.Warn(fmt.Sprintf("%s: usage(%s, %s) != actual usage(%s, %s)", m.Key,
						formatComma(m.Stored.UsedInodes), formatIBytes(uint64(max(m.Stored.UsedSpace, 0))),
						formatComma(m.Actual.Inodes), formatIBytes(uint64(max(m.Actual.Space, 0)))))
				}
			}
			if res.Repaired {
				a.log.Info("Begin to repair user/group quota.")
			}
		}
		if err != nil {
			return nil, err
		}
		return res.Quotas, nil
	}
	res, err := e.Quotas().Check(c.Context, t.qtype, t.key, c.Bool("strict"), repair)
	if res != nil {
		for _, m := range res.Mismatches {
			a.log.Warn(fmt.Sprintf("%s: quota(%s, %s) != summary(%s, %s)", m.Key,
				formatComma(m.Stored.UsedInodes), formatIBytes(uint64(max(m.Stored.UsedSpace, 0))),
				formatComma(m.Actual.Inodes), formatIBytes(uint64(max(m.Actual.Space, 0)))))
		}
		if res.Repaired {
			a.log.Info("repairing...")
		} else if err == nil {
			a.log.Info(fmt.Sprintf("quota of %s is consistent", t.key))
		}
	}
	if err != nil {
		return nil, err
	}
	return res.Quotas, nil
}

// printQuotas prints quotas as juicefs's table (first names the key
// column), sorted by key; nothing when there are none.
func (a *app) printQuotas(first string, qs map[string]meta.Quota) {
	if len(qs) == 0 {
		return
	}
	keys := make([]string, 0, len(qs))
	for k := range qs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := [][]string{{first, "Size", "Used", "Use%", "Inodes", "IUsed", "IUse%"}}
	for _, k := range keys {
		q := qs[k]
		if q.UsedSpace < 0 {
			a.log.Warn(fmt.Sprintf("Used space of %s is negative (%d), please run `%s quota check` to fix it", k, q.UsedSpace, a.name))
			q.UsedSpace = 0
		}
		if q.UsedInodes < 0 {
			a.log.Warn(fmt.Sprintf("Used inodes of %s is negative (%d), please run `%s quota check` to fix it", k, q.UsedInodes, a.name))
			q.UsedInodes = 0
		}
		size, usedPct := "unchanged", ""
		if q.MaxSpace > 0 {
			size = formatIBytes(uint64(q.MaxSpace))
			usedPct = fmt.Sprintf("%d%%", q.UsedSpace*100/q.MaxSpace)
		}
		inodes, iusedPct := "unchanged", ""
		if q.MaxInodes > 0 {
			inodes = formatComma(q.MaxInodes)
			iusedPct = fmt.Sprintf("%d%%", q.UsedInodes*100/q.MaxInodes)
		}
		rows = append(rows, []string{k, size, formatIBytes(uint64(q.UsedSpace)), usedPct, inodes, formatComma(q.UsedInodes), iusedPct})
	}
	printTable(a.stdout, rows, 0)
}
