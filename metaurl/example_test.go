package metaurl_test

import (
	"fmt"
	"os"

	"github.com/rueidisfs/rueidisfs/metaurl"
)

func ExampleParse() {
	cfg, warnings, err := metaurl.Parse("redis://:secret@mymaster,10.0.0.1,10.0.0.2:26380/2?read-timeout=10s&pool_fifo=true", os.Getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println(cfg.Mode, cfg.MasterName, cfg.Addrs, cfg.DB, cfg.ReadTimeout)
	fmt.Println(cfg.Redacted())
	fmt.Printf("prefix %q\n", cfg.KeyPrefix(false))
	// Output:
	// warning: meta URL option "pool_fifo" has no effect with rueidis; it is ignored
	// sentinel mymaster [10.0.0.1:26380 10.0.0.2:26380] 2 10s
	// redis://:****@mymaster,10.0.0.1,10.0.0.2:26380/2?read-timeout=10s&pool_fifo=true
	// prefix ""
}

func ExampleParse_cluster() {
	cfg, _, err := metaurl.Parse("rediss://h1:7000,h2:7001/3", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Mode, cfg.TLS, cfg.Addrs, cfg.KeyPrefix(true))
	_, _, err = metaurl.Parse("redis://h1:99999/3", nil)
	fmt.Println(err)
	// Output:
	// cluster true [h1:7000 h2:7001] {3}
	// meta URL "redis://h1:99999/3": port 99999 out of range 1-65535
}
