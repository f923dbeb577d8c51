package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// mountChunkConfig is what umount --flush needs of a mount's .config (as
// rueidisfs and juicefs mounts both write it): whether it stages blocks,
// and its cache directories (with the volume's UUID, separated by colons).
type mountChunkConfig struct {
	Chunk struct {
		CacheDir  string
		Writeback bool
	}
}

// waitStaging waits, with a progress bar, until the staging areas of the
// writeback mount at mp hold no more blocks (the mount uploads them).
func (a *app) waitStaging(mp string) error {
	var raw []byte
	var err error
	for _, name := range []string{".config", ".jfs.config"} {
		if raw, err = os.ReadFile(filepath.Join(mp, name)); err == nil {
			break
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is not the mount point of a volume (no .config)", mp)
		}
		return fmt.Errorf("read the mount's configuration: %w", err)
	}
	var conf mountChunkConfig
	if err := json.Unmarshal(raw, &conf); err != nil {
		return fmt.Errorf("parse the mount's configuration: %w", err)
	}
	if !conf.Chunk.Writeback || conf.Chunk.CacheDir == "memory" {
		return nil
	}
	var areas []string
	for _, d := range strings.Split(conf.Chunk.CacheDir, string(os.PathListSeparator)) {
		areas = append(areas, filepath.Join(d, "rawstaging"))
	}
	left, err := stagedBytes(areas)
	if err != nil {
		return err
	}
	total := left
	bar := a.newProgress()
	bar.Start("uploading staged blocks (bytes)", int(total))
	for left > 0 {
		time.Sleep(time.Second)
		if left, err = stagedBytes(areas); err != nil {
			bar.Wait()
			return err
		}
		total = max(total, left)
		bar.Set(total-left, total)
	}
	bar.Wait()
	fmt.Fprintln(a.stdout, "All staged blocks are uploaded")
	return nil
}

// stagedBytes adds up the sizes of the staged blocks below the areas.
func stagedBytes(areas []string) (int64, error) {
	var n int64
	for _, area := range areas {
		err := filepath.WalkDir(area, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed meanwhile
				}
				return err
			}
			if !d.IsDir() && !strings.HasSuffix(d.Name(), ".tmp") {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read the staging area %s: %w", area, err)
		}
	}
	return n, nil
}
