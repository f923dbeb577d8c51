package shard_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
	"github.com/rueidisfs/rueidisfs/objstore/shard"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return shard.New([]objstore.Store{mem.New(), mem.New(), mem.New()})
	}, storetest.Options{Listed: 40})
}

// fnv1a32 is FNV-1a with 32 bits, written out from its definition.
func fnv1a32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// TestPlacement checks which bucket holds each object: the hash of the
// whole key, volume prefix included, as the official client places them.
func TestPlacement(t *testing.T) {
	if fnv1a32("a") != 0xe40c292c { // a published test vector
		t.Fatal("fnv1a32")
	}
	buckets := []*mem.Store{mem.New(), mem.New(), mem.New(), mem.New()}
	stores := make([]objstore.Store, len(buckets))
	for i, b := range buckets {
		stores[i] = b
	}
	vol := objstore.WithPrefix(shard.New(stores), "myjfs/")
	ctx := context.Background()
	for id := uint64(1); id <= 200; id++ {
		key := objstore.BlockKey(false, id, 0, 1024)
		if err := vol.Put(ctx, key, []byte{1}); err != nil {
			t.Fatal(err)
		}
		want := fnv1a32("myjfs/"+key) % 4
		for i, b := range buckets {
			_, err := b.Head(ctx, "myjfs/"+key)
			if (err == nil) != (uint32(i) == want) {
				t.Fatalf("%s: in bucket %d? %v; want bucket %d", key, i, err == nil, want)
			}
		}
	}
	for i, b := range buckets {
		if n := len(storetest.Listing(t, b, "", "")); n < 30 {
			t.Errorf("bucket %d holds %d of 200 objects", i, n)
		}
	}
	if got := storetest.Listing(t, vol, "chunks/", ""); len(got) != 200 || !slices.IsSorted(got) {
		t.Errorf("merged listing: %d keys, sorted %v", len(got), slices.IsSorted(got))
	}
}

func TestBuckets(t *testing.T) {
	got, err := shard.Buckets("https://mybucket-%d.s3.us-east-2.amazonaws.com", 3)
	if err != nil || !slices.Equal(got, []string{"https://mybucket-0.s3.us-east-2.amazonaws.com", "https://mybucket-1.s3.us-east-2.amazonaws.com", "https://mybucket-2.s3.us-east-2.amazonaws.com"}) {
		t.Errorf("%q %v", got, err)
	}
	if got, err := shard.Buckets("/data/jfs-%02d/", 2); err != nil || got[1] != "/data/jfs-01/" {
		t.Errorf("%q %v", got, err)
	}
	for _, c := range []struct {
		pattern string
		n       int
	}{{"https://mybucket.s3.amazonaws.com", 4}, {"/data/%s/", 2}, {"/data/%d-%d/", 2}, {"/d/%d", 257}, {"/d/%d", 1}} {
		if _, err := shard.Buckets(c.pattern, c.n); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Buckets(%q, %d): %v", c.pattern, c.n, err)
		}
	}
}

// TestOfficialPlacement: where the official client put the objects of a
// volume "shvol" formatted with --shards 3 --bucket '/tmp/sh/b-%d' (one
// 10,000,000-byte file copied in through its mount, then a 9,000,001-byte
// file written by rueidisfs and read back through the official mount).
func TestOfficialPlacement(t *testing.T) {
	for key, bucket := range map[string]uint32{
		"shvol/chunks/0/0/1_0_4194304":    1,
		"shvol/chunks/0/0/1_1_4194304":    0,
		"shvol/chunks/0/0/1_2_1611392":    1,
		"shvol/chunks/0/4/4097_0_4194304": 1, // written by rueidisfs
		"shvol/chunks/0/4/4097_2_611393":  0,
		"shvol/juicefs_uuid":              2,
	} {
		buckets := []objstore.Store{mem.New(), mem.New(), mem.New()}
		if err := shard.New(buckets).Put(context.Background(), key, []byte{1}); err != nil {
			t.Fatal(err)
		}
		for i, b := range buckets {
			if _, err := b.Head(context.Background(), key); (err == nil) != (uint32(i) == bucket) {
				t.Errorf("%s: in bucket %d? %v; the official client chose %d", key, i, err == nil, bucket)
			}
		}
	}
}
