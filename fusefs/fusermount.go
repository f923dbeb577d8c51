package fusefs

import (
	"fmt"
	"os/exec"
	"strings"
)

// runFusermount unmounts through the setuid helper, for users who may not
// call umount(2) themselves.
func runFusermount(args, mountpoint string) error {
	for _, helper := range []string{"fusermount3", "fusermount"} {
		path, err := exec.LookPath(helper)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, args, mountpoint).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s %s: %s", helper, args, mountpoint, strings.TrimSpace(string(out)))
		}
		return nil
	}
	return fmt.Errorf("unmount %s: permission denied and no fusermount found", mountpoint)
}
