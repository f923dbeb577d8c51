package meta_test

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// runMoreMetaOps holds the sub-benchmarks of operations added later
// (attributes, extended attributes, data).
func runMoreMetaOps(b *testing.B, e *meta.Engine) {}
