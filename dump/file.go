package dump

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// These helpers give the CLI the file handling of `juicefs dump` and
// `juicefs load`: a dump is written to FILE.tmp and renamed when complete,
// and a name ending in .gz is gzip-compressed (fastest level). Zstandard
// (.zstd) is not supported: it would need a dependency the module does not
// have.

// OutputFile is a dump being written to a file.
type OutputFile struct {
	path string
	tmp  *os.File
	buf  *bufio.Writer
	gz   *gzip.Writer
	w    io.Writer
}

// CreateOutput creates path+".tmp" for a dump to be written to path.
func CreateOutput(path string) (*OutputFile, error) {
	if strings.HasSuffix(path, ".zstd") {
		return nil, fmt.Errorf("dump to %s: zstd compression is not supported; use .gz", path)
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return nil, err
	}
	o := &OutputFile{path: path, tmp: f, buf: bufio.NewWriterSize(f, 1<<20)}
	o.w = o.buf
	if strings.HasSuffix(path, ".gz") {
		if o.gz, err = gzip.NewWriterLevel(o.buf, gzip.BestSpeed); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		o.w = o.gz
	}
	return o, nil
}

// Write writes (compressed) dump bytes.
func (o *OutputFile) Write(p []byte) (int, error) { return o.w.Write(p) }

// Commit completes the file and renames it to its final name.
func (o *OutputFile) Commit() error {
	var err error
	if o.gz != nil {
		err = o.gz.Close()
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

// OpenInput opens a dump file, decompressing it when its name ends in .gz.
func OpenInput(path string) (io.ReadCloser, error) {
	if strings.HasSuffix(path, ".zstd") {
		return nil, fmt.Errorf("load %s: zstd compression is not supported; decompress it first", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return &gzipFile{gz, f}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g *gzipFile) Close() error { return errors.Join(g.Reader.Close(), g.f.Close()) }
