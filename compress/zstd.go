package compress

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// maxBlock is the largest block a volume can have (16 MiB); the decoder
// refuses to allocate more for one frame.
const maxBlock = 16 << 20

// zstdCodec stores a block as one zstd frame. The official client compresses
// at level 1 of libzstd, whose closest equivalent here is SpeedFastest, and
// writes no content checksum; any frame with the content size in its header
// is readable by it. One encoder and one decoder serve all goroutines (their
// EncodeAll/DecodeAll are safe for concurrent use).
type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newZstd() (*zstdCodec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false),
		// A single-segment frame always records its content size; without
		// it frames under 256 bytes would not, and the official reader
		// cannot decode a frame of unknown size into its block buffer.
		zstd.WithSingleSegment(true),
		zstd.WithZeroFrames(true)) // an empty input still gets a frame
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(maxBlock),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &zstdCodec{enc: enc, dec: dec}, nil
}

func (*zstdCodec) Name() string   { return "zstd" }
func (*zstdCodec) Seekable() bool { return false }

// Bound is libzstd's ZSTD_COMPRESSBOUND, which the official reader uses to
// size its read of a body.
func (*zstdCodec) Bound(n int) int {
	b := n + n>>8
	if n < 128<<10 {
		b += (128<<10 - n) >> 11
	}
	return b
}

func (c *zstdCodec) Compress(dst, src []byte) ([]byte, error) {
	out := c.enc.EncodeAll(src, dst[:0])
	if len(out) > c.Bound(len(src)) {
		return nil, fmt.Errorf("zstd compress %d bytes: %d bytes exceed the bound", len(src), len(out))
	}
	return out, nil
}

func (c *zstdCodec) Decompress(dst, body []byte) error {
	if len(body) > c.Bound(len(dst)) {
		return fmt.Errorf("%w: zstd body of %d bytes exceeds the bound of a %d-byte block", ErrCorrupt, len(body), len(dst))
	}
	out, err := c.dec.DecodeAll(body, dst[:0])
	if err != nil {
		return fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	if len(out) != len(dst) {
		return fmt.Errorf("%w: zstd body decodes to %d bytes, want %d", ErrCorrupt, len(out), len(dst))
	}
	if len(dst) > 0 && &out[0] != &dst[0] {
		copy(dst, out) // cannot happen for a frame of the right size
	}
	return nil
}
