package meta_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestTLSVolume: a volume on a TLS-only server that requires client
// certificates, through the ruediss:// scheme.
func TestTLSVolume(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithMutualTLS())
	url := strings.Replace(srv.URL("rediss", 4), "rediss://", "ruediss://", 1)
	tlsVolume(t, formatAt(t, url, meta.Options{}), url)
}

// tlsVolume runs namespace operations on e, a volume over TLS, and checks
// that another client at url caches and sees a change.
func tlsVolume(t *testing.T, e *meta.Engine, url string) {
	t.Helper()
	if !e.CacheEnabled() {
		t.Fatal("client-side caching is off over TLS")
	}
	namespaceOps(t, e, "tls")
	reader := openAt(t, url, meta.Options{NoBackgroundJobs: true})
	f := ino2(t, reader, "tls/moved")
	chmod(t, e, f, 0o600)
	voltest.Eventually(t, 10*time.Second, "the reader sees the chmod", modeIs(reader, f, 0o600))
	recount(t, e, reader)
}

// TestClusterTLS: a volume on a Redis Cluster whose nodes speak TLS only
// (tls-cluster yes) and require client certificates: the volume's slot,
// its scripts and client-side caching work as over TCP.
func TestClusterTLS(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0, redistest.WithMutualTLS())
	url := strings.Replace(c.URL("rediss", 5), "rediss://", "ruediss://", 1)
	e := formatAt(t, url, meta.Options{})
	if !e.Conn().Cluster || e.Keys().Prefix() != "{5}" {
		t.Fatalf("cluster %v, prefix %q", e.Conn().Cluster, e.Keys().Prefix())
	}
	tlsVolume(t, e, url)
}
