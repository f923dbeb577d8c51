package dump

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// These helpers give the CLI the file handling of `juicefs dump` and
// `juicefs load`: a dump is written to a new temporary file beside FILE
// and renamed over FILE when complete, and a name ending in .gz is
// gzip-compressed, one ending in .zstd Zstandard-compressed (fastest
// levels, as juicefs), for JSON dumps and binary backups alike.
//
// A dump holds secrets (the format's keys unless --keep-secret-key is
// off, session details): the file is created readable by its owner only
// (0600), with a name nobody could have planted (O_EXCL, never through a
// symbolic link), and FILE must be absent or a regular file — a device, a
// directory or a symbolic link is refused rather than replaced.

// OutputFile is a dump being written to a file.
type OutputFile struct {
	path string
	tmp  *os.File
	buf  *bufio.Writer
	comp io.WriteCloser // the compressor, if any
	w    io.Writer
}

// CreateOutput creates the temporary file of a dump to be written to path.
func CreateOutput(path string) (*OutputFile, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("dump to %s: it exists and is not a regular file (%s); a dump replaces only a regular file", path, fileKind(fi.Mode()))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dump to %s: %w", path, err)
	}
	// os.CreateTemp opens with O_EXCL and mode 0600.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("dump to %s: %w", path, err)
	}
	o := &OutputFile{path: path, tmp: f, buf: bufio.NewWriterSize(f, 1<<20)}
	o.w = o.buf
	switch {
	case strings.HasSuffix(path, ".gz"):
		o.comp, err = gzip.NewWriterLevel(o.buf, gzip.BestSpeed)
	case strings.HasSuffix(path, ".zstd"):
		o.comp, err = zstd.NewWriter(o.buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if o.comp != nil {
		o.w = o.comp
	}
	return o, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// Write writes (compressed) dump bytes.
func (o *OutputFile) Write(p []byte) (int, error) { return o.w.Write(p) }

// Commit completes the file and renames it to its final name.
func (o *OutputFile) Commit() error {
	var err error
	if o.comp != nil {
		err = o.comp.Close()
	}
	err = errors.Join(err, o.buf.Flush(), o.tmp.Sync(), o.tmp.Close())
	if fi, lerr := os.Lstat(o.path); err == nil && lerr == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("it became %s while the dump was written", fileKind(fi.Mode()))
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.tmp.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// Abort removes the incomplete file.
func (o *OutputFile) Abort() {
	o.tmp.Close()
	os.Remove(o.tmp.Name())
}

// OpenInput opens a dump file, decompressing it when its name ends in .gz
// or .zstd.
func OpenInput(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := Decompress(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Decompress reads the content of the dump named name from r: gunzipped
// for a name ending in .gz, Zstandard-decompressed for .zstd, as is
// otherwise. Closing the result closes r when r is an io.Closer.
func Decompress(name string, r io.Reader) (io.ReadCloser, error) {
	closeR := func() error { return nil }
	if c, ok := r.(io.Closer); ok {
		closeR = c.Close
	}
	br := bufio.NewReaderSize(r, 1<<20)
	switch {
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		return &decompressed{gz, gz.Close, closeR}, nil
	case strings.HasSuffix(name, ".zstd"):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		return &decompressed{zr, func() error { zr.Close(); return nil }, closeR}, nil
	}
	return &decompressed{br, func() error { return nil }, closeR}, nil
}

// decompressed is a decompressing reader of a file.
type decompressed struct {
	io.Reader
	closeReader func() error
	closeFile   func() error
}

func (d *decompressed) Close() error { return errors.Join(d.closeReader(), d.closeFile()) }
