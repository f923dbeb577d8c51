package mem_test

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store { return mem.New() }, storetest.Options{})
}

// TestPrefixed runs the suite through the "NAME/" layer, with a neighbour
// volumes in the same bucket that must stay invisible.
func TestPrefixed(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		bucket := mem.New()
		for _, other := range []string{"vol-a/", "vol0/"} {
			for _, k := range []string{"chunks/0/0/1_0_10", "juicefs_uuid", "a0"} {
				if err := bucket.Put(t.Context(), other+k, []byte("neighbour")); err != nil {
					t.Fatal(err)
				}
			}
		}
		return objstore.WithPrefix(bucket, "vol/")
	}, storetest.Options{})
}
