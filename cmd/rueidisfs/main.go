// Command rueidisfs is a client for JuiceFS 1.4.1 volumes on Redis, built
// on rueidis. See the README for the commands it offers.
package main

import (
	"os"

	"github.com/rueidisfs/rueidisfs/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
