package dump

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// These helpers give the CLI the file handling of `juicefs dump` and
// `juicefs load`: a dump is written to FILE.tmp and renamed when complete,
// and a name ending in .gz is gzip-compressed, one ending in .zstd
// Zstandard-compressed (fastest levels, as juicefs), for JSON dumps and
// binary backups alike.

// OutputFile is a dump being written to a file.
type OutputFile struct {
	path string
	tmp  *os.File
	buf  *bufio.Writer
	comp io.WriteCloser // the compressor, if any
	w    io.Writer
}

// CreateOutput creates path+".tmp" for a dump to be written to path.
func CreateOutput(path string) (*OutputFile, error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return nil, err
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

// Write writes (compressed) dump bytes.
func (o *OutputFile) Write(p []byte) (int, error) { return o.w.Write(p) }

// Commit completes the file and renames it to its final name.
func (o *OutputFile) Commit() error {
	var err error
	if o.comp != nil {
		err = o.comp.Close()
	}
	err = errors.Join(err, o.buf.Flush(), o.tmp.Sync(), o.tmp.Close())
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
