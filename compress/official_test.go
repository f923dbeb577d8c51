package compress

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestOfficialObjects decodes objects the official client compressed and
// compares them with what was written.
func TestOfficialObjects(t *testing.T) {
	dir := filepath.Join("testdata", "official")
	for _, alg := range []string{"lz4", "zstd"} {
		c, err := New(alg)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range []string{"text", "zeros", "rand", "tiny"} {
			data, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			for b := 0; b*65536 < len(data); b++ {
				block := data[b*65536 : min((b+1)*65536, len(data))]
				body, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s-%s-%d", alg, file, b)))
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(block))
				if err := c.Decompress(got, body); err != nil || !bytes.Equal(got, block) {
					t.Errorf("%s %s block %d: official object not decoded (%v)", alg, file, b, err)
				}
			}
		}
	}
}
