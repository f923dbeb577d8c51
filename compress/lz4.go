package compress

import (
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// lz4Codec stores a block as one raw LZ4 block. The official client's
// decoder is the LZ4 C library's LZ4_decompress_safe, which accepts any
// valid block; the encoder here is given a destination of the full bound,
// so that it always emits a block (literals only for incompressible data)
// instead of giving up.
type lz4Codec struct{}

func (lz4Codec) Name() string    { return "lz4" }
func (lz4Codec) Seekable() bool  { return false }
func (lz4Codec) Bound(n int) int { return lz4.CompressBlockBound(n) }

func (c lz4Codec) Compress(dst, src []byte) ([]byte, error) {
	dst = grow(dst, c.Bound(len(src)))
	n, err := lz4.CompressBlock(src, dst, nil)
	if err != nil {
		return nil, fmt.Errorf("lz4 compress %d bytes: %w", len(src), err)
	}
	if n == 0 && len(src) > 0 {
		// Cannot happen with a destination of the full bound; storing the
		// block raw would make it unreadable, so refuse.
		return nil, fmt.Errorf("lz4 compress %d bytes: encoder produced no block", len(src))
	}
	return dst[:n], nil
}

func (c lz4Codec) Decompress(dst, body []byte) error {
	if len(body) > c.Bound(len(dst)) {
		return fmt.Errorf("%w: lz4 body of %d bytes exceeds the bound of a %d-byte block", ErrCorrupt, len(body), len(dst))
	}
	n, err := lz4.UncompressBlock(body, dst)
	if err != nil {
		return fmt.Errorf("%w: lz4: %v", ErrCorrupt, err)
	}
	if n != len(dst) {
		return fmt.Errorf("%w: lz4 body decodes to %d bytes, want %d", ErrCorrupt, n, len(dst))
	}
	return nil
}
