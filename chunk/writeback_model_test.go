package chunk

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
)

// TestWritebackRandomized checks the writeback's promise against a model
// under concurrency: writers stage slices, others remove some of them
// (also while their uploads run), the storage fails now and then and is
// slow, and the store is closed and opened again on the same cache
// directory at random moments. Once a last store drained the staging
// area, the bucket holds exactly the blocks of the slices not removed,
// each with its bytes, and nothing is left staged.
func TestWritebackRandomized(t *testing.T) {
	for seed := range uint64(3) {
		t.Run("", func(t *testing.T) { writebackRandomized(t, seed) })
	}
}

func writebackRandomized(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 42))
	bucket := datatest.NewDir(t)
	faulty := datatest.NewFaulty(bucket)
	var rmu sync.Mutex
	faulty.SetHooks(func(string) error {
		rmu.Lock()
		n := r.IntN(10)
		rmu.Unlock()
		time.Sleep(time.Duration(n) * time.Millisecond)
		if n == 0 {
			return errors.New("503 slow down")
		}
		return nil
	}, nil)
	dir := t.TempDir()
	open := func() *Store {
		conf := writebackConf(dir, 0)
		conf.MaxUploads = 3
		return newStore(t, faulty, conf)
	}

	var mu sync.Mutex
	live := map[uint64][]byte{} // slices written and not removed
	s := open()
	next := uint64(1)
	for round := range 6 {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func(first uint64) {
				defer wg.Done()
				for i := range uint64(8) {
					id := first + i
					data := randomBytes(id, 1+int(id*7919)%(3*65536))
					w := s.NewWriter(id)
					if err := w.WriteAt(context.Background(), data, 0); err != nil {
						t.Error(err)
						return
					}
					if err := w.Finish(context.Background()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					live[id] = data
					mu.Unlock()
				}
			}(next + uint64(w)*8)
		}
		// Remove some slices while writes and uploads go on.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				time.Sleep(time.Millisecond)
				mu.Lock()
				var id uint64
				var data []byte
				for k, v := range live {
					id, data = k, v
					break
				}
				if id != 0 {
					delete(live, id)
				}
				mu.Unlock()
				if id != 0 {
					if err := s.Remove(context.Background(), id, uint32(len(data))); err != nil {
						t.Error(err)
					}
				}
			}
		}()
		wg.Wait()
		next += 32
		if round%2 == 1 {
			s.Close() // a restart: staged blocks wait for the next store
			s = open()
		}
	}
	s.Close()
	s = open()
	waitFor(t, "the staging area drained", func() bool { n, _ := s.Staging(); return n == 0 && len(stagedFilesIn(dir)) == 0 })
	s.Close()

	codec, _ := compress.New("none")
	want := map[string][]byte{}
	for id, data := range live {
		for i := 0; i*65536 < len(data); i++ {
			block := data[i*65536 : min((i+1)*65536, len(data))]
			want[s.blockKey(id, i, len(block))] = block
		}
	}
	got := bucket.Objects("chunks/")
	for _, key := range got {
		block, ok := want[key]
		if !ok {
			t.Errorf("object %s of a removed slice", key)
			continue
		}
		body, _ := os.ReadFile(bucket.Path(key))
		b := make([]byte, len(block))
		if err := codec.Decompress(b, body); err != nil || !bytes.Equal(b, block) {
			t.Errorf("object %s does not hold its block", key)
		}
		delete(want, key)
	}
	for key := range want {
		t.Errorf("block %s of a live slice never uploaded", key)
	}
	if left := stagedFilesIn(dir); len(left) > 0 {
		t.Errorf("staged files left: %v", left)
	}
}

func stagedFilesIn(dir string) []string {
	var files []string
	root := dir + "/vol-uuid/rawstaging"
	filepathWalk(root, func(p string) { files = append(files, p) })
	return files
}

func filepathWalk(root string, f func(string)) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := root + "/" + e.Name()
		if e.IsDir() {
			filepathWalk(p, f)
		} else {
			f(p)
		}
	}
}
