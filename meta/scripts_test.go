package meta

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScriptConstants: every script's ${NAME} constants are known, and no
// script writes a number of its own where a layout offset, a value length
// or the marker lifetime belongs (they come from scriptConstants, which
// takes them from codec and from markerTTL). The numbers a script may
// write are listed with why.
func TestScriptConstants(t *testing.T) {
	allowed := map[string]string{
		"10":         "decimal digits (resolve.lua's dec64)",
		"16":         "the file type in the top 4 bits of the mode byte",
		"64":         "the owner's permission bits of the mode",
		"256":        "bytes to 16-bit limbs",
		"65536":      "16-bit limbs",
		"2097152":    "2^21: the high half of an inode below 2^53, a number Lua holds exactly (resolve.lua's dec64)",
		"4294967296": "2^32, the high half's weight (resolve.lua's dec64)",
	}
	names, err := filepath.Glob("*.lua")
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	number := regexp.MustCompile(`\b\d{2,}\b`)
	comment := regexp.MustCompile(`--.*`)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src := luaSource(name, string(b)) // panics on an unknown name
		if strings.Contains(src, "${") {
			t.Errorf("%s: a constant is left unreplaced", name)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, n := range number.FindAllString(comment.ReplaceAllString(line, ""), -1) {
				if _, ok := allowed[n]; !ok {
					t.Errorf("%s:%d: the number %s belongs in scriptConstants (or, if it is no layout or lifetime, in this test's list with why)", name, i+1, n)
				}
			}
		}
	}
	for _, src := range []string{txnScriptSource, dirStatScriptSource, chunkDelScriptSource, resolveScriptSource, compactScriptSource, lockScriptSource} {
		if strings.Contains(src, "${") {
			t.Errorf("a loaded script keeps a ${NAME}")
		}
	}
}
