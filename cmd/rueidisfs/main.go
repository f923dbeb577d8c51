// Command rueidisfs is a JuiceFS-compatible metadata engine and toolbox built
// on rueidis. See the README for the commands it offers.
package main

import (
	"os"

	"github.com/rueidisfs/rueidisfs/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
