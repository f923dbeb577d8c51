package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The files of the disk cache and of the staging area hold a block's plain
// bytes, then (unless checksums are off) one CRC-32C (Castagnoli,
// big-endian) per 32 KiB piece of them, then, in files JuiceFS staged for a
// storage tier other than the default, a footer (a 2-byte magic, a 2-byte
// length and that many bytes). A reader tells which parts a file has from
// its size and the block length in its name: the footer's padding makes the
// trailer a multiple of 4 bytes exactly when checksums are present.
const (
	checksumPiece = 32 << 10
	footerMagic   = 0x4653
)

// Checksum levels of cached blocks (--verify-cache-checksum).
const (
	ChecksumNone   = "none"   // none written, none verified
	ChecksumFull   = "full"   // verified when a whole block is read
	ChecksumShrink = "shrink" // verified for the pieces inside the read
	ChecksumExtend = "extend" // reads widened to whole pieces, all verified
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksums returns the CRC-32C of every 32 KiB piece of data.
func checksums(data []byte) []byte {
	out := make([]byte, 0, checksumsLen(len(data)))
	for off := 0; off < len(data); off += checksumPiece {
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(data[off:min(off+checksumPiece, len(data))], castagnoli))
	}
	return out
}

func checksumsLen(blen int) int { return 4 * ((blen + checksumPiece - 1) / checksumPiece) }

// writeCacheFile stores block at path, with checksums unless withSums is
// false: written under a temporary name in the same directory (created
// with dirMode) and renamed, so that a file with its final name is whole.
func writeCacheFile(path string, block []byte, withSums bool, fileMode, dirMode os.FileMode) error {
	if err := mkdirMode(filepath.Dir(path), dirMode); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(block)
	if err == nil && withSums {
		_, err = f.Write(checksums(block))
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// cacheLayout says whether a cache file of size bytes holding a block of
// blen bytes has checksums, and fails when no layout fits.
func cacheLayout(size int64, blen int) (withSums bool, err error) {
	extra, sums := size-int64(blen), int64(checksumsLen(blen))
	switch {
	case extra < 0:
		return false, fmt.Errorf("%d bytes, shorter than its block of %d", size, blen)
	case extra == 0:
		return false, nil
	case extra%4 != 0:
		return false, nil // a footer alone
	case extra >= sums:
		return true, nil // checksums, perhaps a footer after them
	default:
		return false, fmt.Errorf("%d bytes do not fit a block of %d with checksums", size, blen)
	}
}

// readCacheFile fills p from offset off of the blen-byte block in f,
// verifying checksums as level says (when the file has them).
func readCacheFile(f *os.File, blen int, p []byte, off int, level string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	withSums, err := cacheLayout(fi.Size(), blen)
	if err != nil {
		return err
	}
	first, last := off/checksumPiece, (off+len(p)-1)/checksumPiece
	start, end := first*checksumPiece, min((last+1)*checksumPiece, blen)
	switch {
	case !withSums || level == ChecksumNone || level == ChecksumFull && (off != 0 || len(p) != blen):
		return readAtFull(f, p, int64(off))
	case level == ChecksumShrink:
		// Only the pieces wholly inside the read are checked.
		if off != start {
			first++
		}
		if off+len(p) != end {
			last--
		}
		if err := readAtFull(f, p, int64(off)); err != nil || first > last {
			return err
		}
		lo := first*checksumPiece - off
		return verifyPieces(f, blen, p[lo:min(len(p), (last+1)*checksumPiece-off)], first)
	}
	// full (a whole block) and extend: read whole pieces, check them all.
	buf := p
	if start != off || end != off+len(p) {
		buf = make([]byte, end-start)
	}
	if err := readAtFull(f, buf, int64(start)); err != nil {
		return err
	}
	if err := verifyPieces(f, blen, buf, first); err != nil {
		return err
	}
	copy(p, buf[off-start:])
	return nil
}

// verifyPieces checks data, the pieces from number first on, against the
// checksums stored after the blen-byte block in f.
func verifyPieces(f *os.File, blen int, data []byte, first int) error {
	n := (len(data) + checksumPiece - 1) / checksumPiece
	sums := make([]byte, 4*n)
	if err := readAtFull(f, sums, int64(blen+4*first)); err != nil {
		return err
	}
	for i := range n {
		piece := data[i*checksumPiece : min((i+1)*checksumPiece, len(data))]
		if crc32.Checksum(piece, castagnoli) != binary.BigEndian.Uint32(sums[4*i:]) {
			start := (first + i) * checksumPiece
			return fmt.Errorf("checksum mismatch in bytes [%d, %d)", start, start+len(piece))
		}
	}
	return nil
}

func readAtFull(f *os.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("short file: %d of %d bytes at %d", n, len(p), off)
	}
	return err
}

// mkdirMode creates dir and its missing parents with exactly mode (the
// umask does not apply, as JuiceFS enforces it: who may read the cache may
// also add to it).
func mkdirMode(dir string, mode os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirMode(parent, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(dir, mode)
}
