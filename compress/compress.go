// Package compress is the block framing of JuiceFS volumes: how one block of
// file data is turned into the body of its object, and back.
//
// A volume's format names one algorithm for all its blocks ("none", "lz4"
// or "zstd"; the empty string means none). There is no header, length or
// checksum around a compressed block, and nothing in an object says how it
// was compressed: the reader knows the algorithm from the format and the
// block's length from its object name, and decodes into a buffer of exactly
// that length.
//
//   - none: the body is the block itself.
//   - lz4: the body is one raw LZ4 block (the block format, not the frame
//     format), also for data that does not compress.
//   - zstd: the body is one zstd frame whose header records the content
//     size, without dictionary; the official client sizes its output
//     buffer from that field.
//
// Every body is at most Bound(n) bytes long for a block of n bytes, the
// same bound the official client reads up to.
package compress

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCorrupt marks a body that does not decode into exactly the expected
// block: truncated or damaged data, or an object of another volume.
var ErrCorrupt = errors.New("corrupt compressed block")

// ErrUnknown is returned by New for an algorithm JuiceFS does not know.
var ErrUnknown = errors.New("unknown compress algorithm")

// Codec compresses and decompresses whole blocks. Its methods are safe for
// concurrent use.
type Codec interface {
	// Name is the algorithm as a volume's format spells it ("none", "lz4",
	// "zstd").
	Name() string
	// Bound is the largest body Compress makes of n bytes.
	Bound(n int) int
	// Compress returns the body storing src, built in dst's storage when it
	// is large enough (dst's length is ignored). The result may be src
	// itself (none).
	Compress(dst, src []byte) ([]byte, error)
	// Decompress decodes body into dst, which must be exactly as long as
	// the block. A body that does not decode into exactly len(dst) bytes
	// gives an error wrapping ErrCorrupt.
	Decompress(dst, body []byte) error
	// Seekable reports whether a byte range of a block can be read from its
	// body without the rest (only for uncompressed volumes).
	Seekable() bool
}

// New returns the codec of the algorithm a volume's format names,
// case-insensitively.
func New(algorithm string) (Codec, error) {
	switch strings.ToLower(algorithm) {
	case "", "none":
		return none{}, nil
	case "lz4":
		return lz4Codec{}, nil
	case "zstd":
		return newZstd()
	}
	return nil, fmt.Errorf("%w %q (known: none, lz4, zstd)", ErrUnknown, algorithm)
}

// none stores blocks as they are.
type none struct{}

func (none) Name() string                           { return "none" }
func (none) Bound(n int) int                        { return n }
func (none) Seekable() bool                         { return true }
func (none) Compress(_, src []byte) ([]byte, error) { return src, nil }

func (none) Decompress(dst, body []byte) error {
	if len(body) != len(dst) {
		return fmt.Errorf("%w: %d bytes stored for a block of %d", ErrCorrupt, len(body), len(dst))
	}
	copy(dst, body)
	return nil
}

// grow returns a slice of length n using b's storage when it is large
// enough.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}
