package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// usageError is a command line that cannot be run as written: run prints
// "ERROR: msg" and the usage line, as juicefs does, and exits with 1.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

func commandUsage(prog string, cmd *cli.Command) string {
	name := prog + " " + cmd.Name
	if cmd.HelpName != "" {
		name = cmd.HelpName // "rueidisfs quota set" for a sub-command
	}
	u := name + " [command options]"
	if cmd.ArgsUsage != "" {
		u += " " + cmd.ArgsUsage
	}
	return u
}

// checkArgs enforces the number of positional arguments of a command, with
// juicefs's wording. max < 0 means no upper bound.
func checkArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case n < min:
		return &usageError{msg: fmt.Sprintf("This command requires at least %d arguments", min), usage: commandUsage(c.App.Name, c.Command)}
	case max >= 0 && n > max:
		return &usageError{msg: fmt.Sprintf("This command accept at most %d arguments but got %v", max, c.Args().Slice()),
			usage: commandUsage(c.App.Name, c.Command)}
	}
	return nil
}

// reorderArgs lets options follow positional arguments, as juicefs allows
// (`rueidisfs status redis://host/1 --more`): urfave stops reading options
// at the first positional argument, so global options found anywhere are
// moved before the command, and the command's options before its
// arguments. Everything after "--" is left as it is. Unknown options stay
// among the options, where urfave reports them.
func reorderArgs(app *cli.App, args []string) []string {
	out := []string{args[0]}
	// --help is not global here: after a command it asks for the help of
	// that command (or sub-command), where reorderCommand puts it.
	global := append([]cli.Flag{}, app.Flags...)
	var rest []string
	for i := 1; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		known, takesValue := matchFlag(global, arg)
		if !known {
			rest = append(rest, arg)
			continue
		}
		out = append(out, arg)
		if takesValue && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	if len(rest) == 0 {
		return out
	}
	cmd := findCommand(app.Commands, rest[0])
	if cmd == nil {
		return append(out, rest...)
	}
	return append(append(out, rest[0]), reorderCommand(cmd, rest[1:])...)
}

// reorderCommand puts the options of cmd (and of its sub-command, if the
// first positional argument names one) before the positional arguments.
func reorderCommand(cmd *cli.Command, args []string) []string {
	flags := append(append([]cli.Flag{}, cmd.Flags...), cli.HelpFlag)
	var opts, positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if len(positional) == 0 && len(cmd.Subcommands) > 0 {
			if sub := findCommand(cmd.Subcommands, arg); sub != nil {
				return append(append(opts, arg), reorderCommand(sub, args[i+1:])...)
			}
		}
		known, takesValue := matchFlag(flags, arg)
		switch {
		case known:
			opts = append(opts, arg)
			if takesValue && i+1 < len(args) {
				i++
				opts = append(opts, args[i])
			}
		case strings.HasPrefix(arg, "-") && arg != "-":
			opts = append(opts, arg) // unknown: let urfave report it
		default:
			positional = append(positional, arg)
		}
	}
	return append(opts, positional...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// matchFlag tells whether arg is one of flags (-x, --x, -x=v, --x=v) and
// whether the value is the next argument.
func matchFlag(flags []cli.Flag, arg string) (known, takesValue bool) {
	if !strings.HasPrefix(arg, "-") {
		return false, false
	}
	name := strings.TrimLeft(arg, "-")
	name, _, hasValue := strings.Cut(name, "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			return true, !isBool && !hasValue
		}
	}
	return false, false
}
