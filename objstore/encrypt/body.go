package encrypt

import (
	"fmt"
	"io"
	"io/fs"
)

// plainBody is the body of a Get: the range [from, to) of an object's
// plaintext, opened on the first Read. A Read taking the whole range at
// once gets it decrypted straight into its buffer; otherwise the object is
// decrypted in place, in its recycled buffer, and copied out.
type plainBody struct {
	key      string
	sealed   *sealed
	buf      *[]byte // the envelope's buffer, back to the pool on Close
	from, to int64
	plain    []byte // the whole plaintext, once opened in place
	err      error  // sticky: an object that does not open never reads
}

// Size is the number of bytes left to read.
func (b *plainBody) Size() int64 { return b.to - b.from }

func (b *plainBody) Read(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case b.from >= b.to:
		return 0, io.EOF
	case b.plain == nil && b.from == 0 && b.to == int64(b.sealed.plainSize()) && len(p) >= int(b.to):
		if _, err := b.sealed.open(p[:0]); err != nil {
			clear(p[:b.to]) // the AEAD may have written there before it refused
			b.err = fmt.Errorf("decrypt %s: %w", b.key, err)
			return 0, b.err
		}
		n := int(b.to)
		b.from = b.to
		return n, nil
	case b.plain == nil:
		plain, err := b.sealed.open(b.sealed.ciphertext[:0])
		if err != nil {
			b.err = fmt.Errorf("decrypt %s: %w", b.key, err)
			return 0, b.err
		}
		b.plain = plain
	}
	n := copy(p, b.plain[b.from:b.to])
	b.from += int64(n)
	return n, nil
}

// Close gives the buffer back for the next object.
func (b *plainBody) Close() error {
	if b.buf != nil {
		envelopes.Put(b.buf)
		b.buf, b.sealed, b.plain = nil, nil, nil
		if b.err == nil {
			b.err = fs.ErrClosed
		}
	}
	return nil
}
