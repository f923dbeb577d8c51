package cli

import (
	"fmt"
	"strings"
)

// juicefsCommand is a command of the official juicefs client, and what
// rueidisfs offers in its place while it has no command of that name.
type juicefsCommand struct {
	name    string
	planned bool   // rueidisfs will have it
	note    string // what it is for, or what to use instead
}

// missingJuicefsCommands lists the commands of juicefs 1.4.1 that
// rueidisfs does not have. Remove a command from here when it is added to
// commands(): TestJuicefsCommands checks that every juicefs command is in
// exactly one of the two.
func missingJuicefsCommands() []juicefsCommand {
	return []juicefsCommand{
		{"sync", false, "copy data between storages"},
		{"gateway", false, "S3 gateway"},
		{"webdav", false, "WebDAV server"},
		{"debug", false, "collect debug information of a mount"},
		{"changelog", false, "tail the change log"},
		{"tier", false, "storage tiers of files"},
	}
}

// unknownCommand explains a command name rueidisfs does not know: which
// commands exist, and for a juicefs command whether it is coming or what
// to use instead.
func (a *app) unknownCommand(name string) *usageError {
	var have, planned []string
	for _, c := range a.commands() {
		if !c.Hidden {
			have = append(have, c.Name)
		}
	}
	var asked *juicefsCommand
	for _, j := range missingJuicefsCommands() {
		if j.name == name {
			asked = &j
		}
		if j.planned {
			planned = append(planned, j.name)
		}
	}
	var msg strings.Builder
	switch {
	case asked == nil:
		fmt.Fprintf(&msg, "unknown command %q", name)
	case asked.planned:
		fmt.Fprintf(&msg, "%q (%s) is a juicefs command that rueidisfs does not have yet; it is planned", name, asked.note)
	default:
		fmt.Fprintf(&msg, "%q (%s) is a juicefs command that rueidisfs does not plan to have: use the official juicefs client, which works on the same volumes", name, asked.note)
	}
	fmt.Fprintf(&msg, "\ncommands of rueidisfs: %s", strings.Join(have, ", "))
	if len(planned) > 0 {
		fmt.Fprintf(&msg, "\nplanned: %s", strings.Join(planned, ", "))
	}
	return &usageError{msg: msg.String(), usage: a.name + " [global options] command [command options] [arguments...]; see " + a.name + " --help"}
}
