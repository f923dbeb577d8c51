package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/metrics"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestServe(t *testing.T) {
	ctx := context.Background()
	srv, db := redistest.NewDB(t)
	e := voltest.Dial(t, srv.URL("redis", db), meta.Options{}) // no session: the mkdir is the one commit
	if err := e.Init(ctx, voltest.Format("m"), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e.GetAttr(ctx, meta.RootInode)
	}
	s, err := metrics.Serve("127.0.0.1:0", e, "m")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		`rueidisfs_meta_cache_hits_total{vol_name="m"} `,
		`rueidisfs_meta_txn_commits_total{vol_name="m"} 1`,
		`rueidisfs_meta_cache_entries{vol_name="m"}`,
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `rueidisfs_meta_cache_hits_total{vol_name="m"} 0`) {
		t.Error("cache hits not counted")
	}
}
