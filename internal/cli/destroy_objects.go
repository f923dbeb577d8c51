package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// destroyWorkers is how many objects destroy deletes at once.
const destroyWorkers = 8

// destroyObjects deletes every object of the volume, then the directories
// they leave on a `file` storage. A bucket that does not exist stops
// destroy, unless force skips the objects. Objects that cannot be deleted
// are counted and named, and do not stop it.
func (a *app) destroyObjects(ctx context.Context, st objstore.Store, force bool) error {
	prog := a.newProgress()
	spin := prog.Spin("Deleted objects", false)
	keys := make(chan string, 1024)
	var deleted, failed atomic.Int64
	var wg sync.WaitGroup
	for range destroyWorkers {
		wg.Go(func() {
			for key := range keys {
				if err := st.Delete(ctx, key); err != nil {
					failed.Add(1)
					a.log.Warn(fmt.Sprintf("delete %s: %v", key, err))
					continue
				}
				deleted.Add(1)
				spin.Add(1, 0)
			}
		})
	}
	var listErr error
	for o, err := range st.List(ctx, "", "") {
		if err != nil {
			listErr = err
			break
		}
		keys <- o.Key
	}
	close(keys)
	wg.Wait()
	spin.Done()
	prog.Wait()
	switch {
	case errors.Is(listErr, objstore.ErrNoBucket) && !force:
		return fmt.Errorf("data storage %s does not exist (%v); retry with --force to skip object deletion", st, listErr)
	case errors.Is(listErr, objstore.ErrNoBucket):
		a.log.Warn(fmt.Sprintf("data storage %s does not exist (%v); will skip object deletion", st, listErr))
		return nil
	case listErr != nil:
		return fmt.Errorf("list all objects: %w (the metadata is left as it was)", listErr)
	}
	if err := objstore.RemoveEmptyDirs(ctx, st, ""); err != nil {
		a.log.Warn(fmt.Sprintf("remove the empty directories of %s: %v", st, err))
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("Deleted %s", plural(int(deleted.Load()), "object")))
	}
	if n := failed.Load(); n > 0 {
		a.log.Error(fmt.Sprintf("%s could not be deleted, please delete them yourself", plural(int(n), "object")))
	}
	return nil
}
