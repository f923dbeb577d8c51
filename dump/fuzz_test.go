package dump_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
)

// FuzzValidate feeds arbitrary documents to the loader's parser: it must
// never panic, and every rejection must be a *FormatError.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(minimalDump))
	for _, vol := range fixtures.Volumes() {
		if b, err := os.ReadFile(fixtures.Path(vol, "dump.json")); err == nil && len(b) < 20000 {
			f.Add(b)
		}
	}
	for _, c := range hostileCases(f) {
		if len(c.doc) < 20000 {
			f.Add([]byte(c.doc))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := dump.Validate(bytes.NewReader(doc), dump.LoadOptions{MaxDepth: 64})
		if err == nil {
			return
		}
		if _, ok := err.(*dump.FormatError); !ok {
			t.Fatalf("not a FormatError: %v", err)
		}
	})
}
