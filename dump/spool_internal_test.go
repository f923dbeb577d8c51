package dump

import (
	"os"
	"testing"
)

// TestTempSpoolLeavesNoName: the spool's file has no name in its directory
// while the load uses it, so a killed load leaves nothing in /tmp.
func TestTempSpoolLeavesNoName(t *testing.T) {
	dir := t.TempDir()
	sp, done, err := tempSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if sp == nil {
		t.Fatal("no spool")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the spool is visible in its directory: %v", entries)
	}
}
