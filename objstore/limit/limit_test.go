package limit_test

import (
	"context"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/limit"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return limit.New(mem.New(), 1<<30, 1<<30)
	}, storetest.Options{})
}

// TestBandwidth: past the first second's worth, bytes move at the limit.
func TestBandwidth(t *testing.T) {
	ctx := context.Background()
	const rate = 200 << 10 // bytes per second
	st := limit.New(mem.New(), rate, rate)
	data := make([]byte, 2*rate) // one second from the full bucket, one waited for
	start := time.Now()
	if err := st.Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("2 s worth of bytes put in %v", d)
	}
	start = time.Now()
	if b, err := objstore.ReadAll(ctx, st, "k", 0, -1); err != nil || len(b) != len(data) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("2 s worth of bytes read in %v", d)
	}
	// A canceled wait gives up.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.Put(cctx, "k2", data); err == nil {
		t.Error("a canceled put waited and stored")
	}
	if unlimited := limit.New(mem.New(), 0, 0); unlimited == nil {
		t.Error("no store without limits")
	}
}
