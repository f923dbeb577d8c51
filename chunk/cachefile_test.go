package chunk

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadCacheFile: whatever a cache file holds and whatever part of its
// block is asked for, a read never panics, and a read that succeeds
// returns the file's own bytes of that part; a file of a valid layout
// with intact checksums always reads.
func FuzzReadCacheFile(f *testing.F) {
	block := randomBytes(1, 70000)
	f.Add(append(append([]byte(nil), block...), checksums(block)...), 70000, 1000, 5000, uint8(3))
	f.Add(block, 70000, 0, 70000, uint8(1))
	f.Add(append(append([]byte(nil), block[:100]...), 0x46, 0x53, 0, 1, 7), 100, 10, 20, uint8(2))
	f.Add([]byte{1, 2, 3}, 10, 0, 5, uint8(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, blen, off, n int, level uint8) {
		if blen <= 0 || blen > 1<<20 || off < 0 || n <= 0 || off+n > blen {
			return
		}
		p := filepath.Join(dir, "c")
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		lvl := []string{ChecksumNone, ChecksumFull, ChecksumShrink, ChecksumExtend}[level%4]
		got := make([]byte, n)
		err = readCacheFile(file, blen, got, off, lvl)
		if err == nil && !bytes.Equal(got, content[off:off+n]) {
			t.Fatalf("read [%d, %d) of a %d-byte block returned other bytes than the file's", off, off+n, blen)
		}
		if len(content) >= blen {
			valid := append(append([]byte(nil), content[:blen]...), checksums(content[:blen])...)
			os.WriteFile(p, valid, 0o600)
			if err := readCacheFile(file, blen, got, off, lvl); err != nil {
				t.Fatalf("an intact cache file failed: %v", err)
			}
		}
	})
}
