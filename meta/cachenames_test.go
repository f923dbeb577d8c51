package meta

import (
	"strings"
	"testing"
)

// TestCachedCommandNames: no two different cached reads of one key can share
// rueidis' name for a cached reply (the command's words after the key,
// joined without a separator). With an argument of any value after a
// shape's fixed words, no other shape may begin with those words; shapes
// without one must differ.
func TestCachedCommandNames(t *testing.T) {
	for i, a := range cachedCommandNames {
		for j, b := range cachedCommandNames {
			if i == j {
				continue
			}
			if a.fixed == b.fixed || (a.variable && strings.HasPrefix(b.fixed, a.fixed)) {
				t.Errorf("cached commands %q and %q can share a cache name", a.fixed, b.fixed)
			}
		}
	}
}
