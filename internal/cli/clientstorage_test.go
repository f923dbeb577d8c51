package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// TestClientStorageOverrides: a client's --storage and --bucket replace the
// volume's for it alone, and bad timeouts are refused.
func TestClientStorageOverrides(t *testing.T) {
	volumeBucket, clientBucket := t.TempDir(), t.TempDir()
	f := &codec.Format{Name: "vol", Storage: "file", Bucket: volumeBucket + "/"}
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	open := func(args ...string) (objstore.Store, error) {
		var st objstore.Store
		var openErr error
		app := &cli.App{Flags: clientStorageFlags(), Action: func(c *cli.Context) error {
			st, openErr = a.openClientObjects(c, f)
			return nil
		}}
		if err := app.Run(append([]string{"mount"}, args...)); err != nil {
			t.Fatal(err)
		}
		return st, openErr
	}
	st, err := open("--bucket", clientBucket, "--get-timeout", "5", "--put-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(clientBucket, "vol", "k")); err != nil {
		t.Errorf("the object is not in the client's bucket: %v", err)
	}
	if f.Bucket != volumeBucket+"/" {
		t.Errorf("the volume's format changed: %s", f.Bucket)
	}
	if st, err = open(); err != nil || !strings.Contains(st.String(), volumeBucket) {
		t.Errorf("without options: %v %v", st, err)
	}
	// Bandwidth limits: the volume's, or the client's. 1 Mbps is 125,000
	// bytes a second: 250,000 bytes take a second past the first.
	for _, args := range [][]string{{"--upload-limit", "1"}, nil} {
		f.UploadLimit = 0
		if args == nil {
			f.UploadLimit = 1
		}
		st, err := open(args...)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := st.Put(context.Background(), "big", make([]byte, 250000)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("%v: 250,000 bytes put in %v", args, d)
		}
	}
	f.UploadLimit = 0
	for args, says := range map[string]string{
		"--get-timeout=soon":  `invalid value "soon" for --get-timeout`,
		"--upload-limit=fast": `invalid value "fast" for --upload-limit`,
		"--storage=gs":        `storage "gs": object storage type not supported`,
	} {
		if _, err := open(args); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want %q", args, err, says)
		}
	}
}
