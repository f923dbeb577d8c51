// Package objbench qualifies an object storage before a volume uses it, as
// `juicefs objbench` does: functional checks of what the client relies on
// (ranges, missing objects, listings, special keys, big and empty
// objects), then throughput and latency of the operations a volume makes.
package objbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// The results of a functional check besides an error's text.
const (
	Pass         = "pass"
	NotSupported = "not support"
)

// Check is the outcome of one functional check.
type Check struct {
	Category string // "basic" or "sync", as juicefs groups them
	Test     string
	Result   string // Pass, NotSupported, or what failed
	Err      error
}

// errNotSupported marks checks of features rueidisfs's stores do not
// have (multipart uploads, owners and modes of files).
var errNotSupported = errors.New("not supported")

// testKey is the object most checks write.
const testKey = "put_test_file"

type checker struct {
	ctx context.Context
	st  objstore.Store
	big int
}

// BigObjectSize is the size of the big object of the checks, as juicefs
// puts it.
const BigObjectSize = 256 << 20

// Functional runs the checks on st, which should be empty (a prefix of
// its own in a bucket); big is the size of the big object (0:
// BigObjectSize).
func Functional(ctx context.Context, st objstore.Store, big int) []Check {
	if big <= 0 {
		big = BigObjectSize
	}
	c := checker{ctx, st, big}
	cases := []struct {
		category, test string
		run            func() error
	}{
		{"basic", "create a bucket", c.createBucket},
		{"basic", "put an object", func() error { return c.withHello(func() error { return nil }) }},
		{"basic", "get an object", c.getObject},
		{"basic", "get non-exist", c.getMissing},
		{"basic", "get partial object", c.getPartial},
		{"basic", "head an object", c.headObject},
		{"basic", "delete an object", c.deleteObject},
		{"basic", "delete non-exist", func() error { return c.st.Delete(c.ctx, testKey) }},
		{"basic", "list objects", c.listObjects},
		{"sync", "special key", c.specialKey},
		{"sync", "put a big object", c.bigObject},
		{"sync", "put an empty object", c.emptyObject},
		{"sync", "multipart upload", notSupported},
		{"sync", "change owner/group", notSupported},
		{"sync", "change permission", notSupported},
		{"sync", "change mtime", notSupported},
	}
	out := make([]Check, 0, len(cases))
	for _, k := range cases {
		err := k.run()
		r := Check{Category: k.category, Test: k.test, Result: Pass, Err: err}
		switch {
		case errors.Is(err, errNotSupported):
			r.Result, r.Err = NotSupported, nil
		case err != nil:
			r.Result = shorten(err.Error())
		}
		out = append(out, r)
	}
	return out
}

func notSupported() error { return errNotSupported }

// shorten keeps error texts to the width juicefs gives them in its table.
func shorten(s string) string {
	if len(s) > 45 {
		return s[:45] + "..."
	}
	return s
}

var hello = []byte("hello")

// withHello runs fn with testKey holding "hello", deleted afterwards.
func (c checker) withHello(fn func() error) error {
	if err := c.st.Put(c.ctx, testKey, hello); err != nil {
		return fmt.Errorf("put object failed: %w", err)
	}
	defer c.st.Delete(c.ctx, testKey) //nolint:errcheck
	return fn()
}

func (c checker) get(key string, off, limit int64) (string, error) {
	b, err := objstore.ReadAll(c.ctx, c.st, key, off, limit)
	return string(b), err
}

func (c checker) createBucket() error {
	if err := objstore.Create(c.ctx, c.st); err != nil {
		return fmt.Errorf("can't create bucket: %w", err)
	}
	if err := objstore.Create(c.ctx, c.st); err != nil {
		return fmt.Errorf("creating a bucket that already exists returns an error: %w", err)
	}
	return nil
}

func (c checker) getObject() error {
	return c.withHello(func() error {
		for _, limit := range []int64{-1, 5} {
			if d, err := c.get(testKey, 0, limit); err != nil || d != "hello" {
				return fmt.Errorf("failed to get an object: expect \"hello\", but got %q, error: %v", d, err)
			}
		}
		return nil
	})
}

func (c checker) getMissing() error {
	if _, err := c.get("not_exists_file", 0, -1); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("get not existed object should fail as not found: %v", err)
	}
	return nil
}

func (c checker) getPartial() error {
	return c.withHello(func() error {
		for _, r := range []struct {
			off, limit int64
			want       string
		}{{0, 1, "h"}, {4, 1, "o"}, {2, 3, "llo"}, {2, 2, "ll"}, {4, 2, "o"}, {6, 2, ""}} {
			if d, err := c.get(testKey, r.off, r.limit); err != nil || d != r.want {
				return fmt.Errorf("get [%d, +%d): expect %q, but got %q, error: %v", r.off, r.limit, r.want, d, err)
			}
		}
		return nil
	})
}

func (c checker) headObject() error {
	return c.withHello(func() error {
		o, err := c.st.Head(c.ctx, testKey)
		if err != nil {
			return fmt.Errorf("failed to head object: %w", err)
		}
		if o.Key != testKey {
			return fmt.Errorf("expected key %s but got %s", testKey, o.Key)
		}
		return nil
	})
}

func (c checker) deleteObject() error {
	if err := c.st.Put(c.ctx, testKey, hello); err != nil {
		return fmt.Errorf("put object failed: %w", err)
	}
	if err := c.st.Delete(c.ctx, testKey); err != nil {
		return fmt.Errorf("delete failed: %w", err)
	}
	if _, err := c.st.Head(c.ctx, testKey); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("head after delete: %v", err)
	}
	if err := c.st.Delete(c.ctx, testKey); err != nil {
		return fmt.Errorf("delete not existed: %w", err)
	}
	return nil
}

func (c checker) list(prefix, startAfter string, limit int) ([]objstore.Object, error) {
	var out []objstore.Object
	for o, err := range c.st.List(c.ctx, prefix, startAfter) {
		if err != nil {
			return nil, err
		}
		if out = append(out, o); len(out) == limit {
			break
		}
	}
	return out, nil
}

func (c checker) listObjects() error {
	return c.withHello(func() error {
		objs, err := c.list("", "", 1)
		if err != nil {
			return fmt.Errorf("list failed: %w", err)
		}
		if len(objs) != 1 || objs[0].Key != testKey || objs[0].Size < int64(len(hello)) {
			return fmt.Errorf("list should return %s of 5 bytes, but got %+v", testKey, objs)
		}
		if d := time.Since(objs[0].Mtime); d.Abs() > 30*time.Second {
			return fmt.Errorf("mtime of key should be within 30 seconds, but got %s", d)
		}
		if objs, err := c.list("", "test2", 1); err != nil || len(objs) != 0 {
			return fmt.Errorf("list after test2 should return nothing, but got %d (%v)", len(objs), err)
		}
		var keys []string
		for i := range 100 {
			k := fmt.Sprintf("hashKey%d", i)
			keys = append(keys, k)
			if err := c.st.Put(c.ctx, k, hello); err != nil {
				return fmt.Errorf("put object failed: %w", err)
			}
			defer c.st.Delete(c.ctx, k) //nolint:errcheck
		}
		slices.Sort(keys)
		objs, err = c.list("hashKey", "", len(keys))
		if err != nil {
			return fmt.Errorf("list failed: %w", err)
		}
		if !slices.EqualFunc(objs, keys, func(o objstore.Object, k string) bool { return o.Key == k }) {
			return errors.New("the result for list is incorrect")
		}
		return nil
	})
}

func (c checker) specialKey() error {
	key := "测试编码文件" + `{"name":"juicefs"}` + "\u001F" + "%uFF081%uFF09.jpg"
	defer c.st.Delete(c.ctx, key) //nolint:errcheck
	if err := c.st.Put(c.ctx, key, []byte("1")); err != nil {
		return fmt.Errorf("put encode file failed: %w", err)
	}
	objs, err := c.list("测试编码文件", "", 1)
	if err != nil {
		return fmt.Errorf("list encode file failed: %w", err)
	}
	if len(objs) != 1 || objs[0].Key != key {
		return fmt.Errorf("list encode file failed: expect key %q, but got %+v", key, objs)
	}
	return nil
}

func (c checker) bigObject() error {
	block := make([]byte, min(c.big, 4<<20))
	fillRandom(block, 1)
	content := bytes.Repeat(block, c.big/len(block))
	if err := c.st.Put(c.ctx, testKey, content); err != nil {
		return err
	}
	defer c.st.Delete(c.ctx, testKey) //nolint:errcheck
	return nil
}

func (c checker) emptyObject() error {
	defer c.st.Delete(c.ctx, "empty_test_file") //nolint:errcheck
	if err := c.st.Put(c.ctx, "empty_test_file", nil); err != nil {
		return err
	}
	defer c.st.Delete(c.ctx, "slash_test_file/") //nolint:errcheck
	if err := c.st.Put(c.ctx, "slash_test_file/", []byte("1")); err != nil {
		return fmt.Errorf("put `/` suffixed object failed: %w", err)
	}
	return nil
}
