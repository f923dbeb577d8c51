package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

// What `format` does to the object storage, as juicefs does it: open it,
// write, read back and delete a test object (creating the bucket when the
// first write fails for another reason than a refusal), and for a new
// volume check that nothing is stored under its name yet and write the
// object juicefs_uuid. JFS_NO_CHECK_OBJECT_STORAGE skips all of that.

// uuidKey is the object holding a volume's UUID, written by format.
const uuidKey = "juicefs_uuid"

// prepareStorage opens and checks the storage of f; it returns the store
// holding juicefs_uuid when one was written (to be removed if the metadata
// cannot be initialised), else nil. A storage rueidisfs cannot reach is
// recorded in the format without a check, with a warning.
func (a *app) prepareStorage(ctx context.Context, f *codec.Format, create bool) (objstore.Store, error) {
	st, err := a.openObjects(f)
	if errors.Is(err, volstore.ErrUnsupported) {
		a.log.Info("Data use " + dataStorage(f))
		a.log.Warn(fmt.Sprintf("%v: the bucket is neither tested nor created", err))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("object storage: %w", err)
	}
	a.log.Info("Data use " + st.String())
	if a.getenv("JFS_NO_CHECK_OBJECT_STORAGE") != "" {
		return nil, nil
	}
	if err := a.testStorage(ctx, st); err != nil {
		return nil, fmt.Errorf("storage %s is not configured correctly: %w", st, err)
	}
	if !create {
		return nil, nil
	}
	if err := a.checkEmpty(ctx, st); err != nil {
		return nil, err
	}
	if err := st.Put(ctx, uuidKey, []byte(f.UUID)); err != nil {
		a.log.Warn(fmt.Sprintf("Put uuid object: %v", err))
		return nil, nil
	}
	return st, nil
}

// checkNewStorage tests the storage settings `config` changed, as juicefs
// does before it records them.
func (a *app) checkNewStorage(ctx context.Context, f *codec.Format) error {
	st, err := a.openObjects(f)
	if errors.Is(err, volstore.ErrUnsupported) {
		a.log.Warn(fmt.Sprintf("%v: the new data storage settings are not checked", err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("object storage: %w", err)
	}
	if err := a.testStorage(ctx, st); err != nil {
		return fmt.Errorf("storage %s is not configured correctly: %w", st, err)
	}
	return nil
}

// testStorage writes, reads back and deletes a test object of 100 random
// bytes under testing/.
func (a *app) testStorage(ctx context.Context, st objstore.Store) error {
	data := make([]byte, 100)
	if _, err := io.ReadFull(a.random, data); err != nil {
		return err
	}
	key := "testing/" + randomName(data[:10])
	if err := st.Put(ctx, key, data); err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "denied") {
			return fmt.Errorf("put: %w", err)
		}
		if cerr := objstore.Create(ctx, st); cerr != nil {
			return fmt.Errorf("create the bucket: %v (after the put failed: %w); create it yourself, then format again", cerr, err)
		}
		if err := st.Put(ctx, key, data); err != nil {
			return fmt.Errorf("put: %w", err)
		}
	}
	got, err := objstore.ReadAll(ctx, st, key, 0, -1)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	if err := st.Delete(ctx, key); err != nil {
		// A storage without the right to delete still works for a volume.
		a.log.Warn(fmt.Sprintf("Failed to delete %s: %v", key, err))
	}
	_ = st.Delete(ctx, "testing/")
	return nil
}

// randomName spells random bytes with letters and digits.
func randomName(b []byte) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = letters[int(c)%len(letters)]
	}
	return string(out)
}

// checkEmpty refuses a storage holding objects under the volume's name:
// empty objects and test objects do not count.
func (a *app) checkEmpty(ctx context.Context, st objstore.Store) error {
	for o, err := range st.List(ctx, "", "") {
		if err != nil {
			a.log.Warn(fmt.Sprintf("List storage %s failed: %v", st, err))
			return nil
		}
		if o.Size == 0 || strings.HasSuffix(o.Key, "/") || o.Key == "testing" || strings.HasPrefix(o.Key, "testing/") {
			continue
		}
		return fmt.Errorf("storage %s is not empty (it holds %s); please clean it up or pick another volume name", st, o.Key)
	}
	return nil
}
