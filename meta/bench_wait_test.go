package meta_test

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// BenchmarkWaitReplicas measures what wait-replicas costs: creates from 16
// goroutines on a master with one replica, acknowledged at once (JuiceFS's
// behaviour) or only once the replica has them (wait-replicas=1, one WAIT
// per mutation on a connection of the blocking pool).
func BenchmarkWaitReplicas(b *testing.B) {
	master := redistest.Start(b)
	replica := redistest.Start(b, redistest.WithConfig("replicaof 127.0.0.1 "+strconv.Itoa(master.Port())))
	deadline := time.Now().Add(30 * time.Second)
	for replica.Info(b, "replication", "master_link_status") != "up" {
		if time.Now().After(deadline) {
			b.Fatal("the replica does not sync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, query := range []string{"", "?wait-replicas=1"} {
		b.Run(fmt.Sprintf("wait-replicas=%d", i), func(b *testing.B) {
			e := benchEngine(b, master.URL("redis", i+1)+query, true)
			f := &codec.Format{Name: "bench", UUID: "bench", Storage: "file", BlockSize: 4096, MetaVersion: 1, DirStats: true}
			if err := e.Init(bg, f, true); err != nil {
				b.Fatal(err)
			}
			if err := e.NewSession(bg, false); err != nil {
				b.Fatal(err)
			}
			dir := benchDir(b, e, "wait")
			var seq atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					name := "f" + strconv.FormatInt(seq.Add(1), 10)
					if _, _, err := e.Mknod(bg, dir, name, codec.TypeFile, 0o644, 0, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
