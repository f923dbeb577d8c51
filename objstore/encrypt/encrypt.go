// Package encrypt encrypts every object of a volume as the official client
// does when the volume was formatted with --encrypt-rsa-key: each object
// gets a fresh random data key and nonce, its bytes are sealed with
// AES-256-GCM or ChaCha20-Poly1305 under that key, and the data key is
// wrapped with the volume's RSA key (RSA-OAEP, SHA-256, label "keys").
// An object is one envelope:
//
//	K (2 bytes, big-endian) | N (1 byte) | wrapped key (K bytes) | nonce (N bytes) | ciphertext and tag
//
// A range read fetches and opens the whole object, then cuts the range:
// the envelope cannot be opened in parts.
package encrypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// The algorithms of a format's EncryptAlgo ("" means the first).
const (
	AES256GCM = "aes256gcm-rsa"
	ChaCha20  = "chacha20-rsa"
	SM4GCM    = "sm4gcm"
)

// dataKeySize is the size of the random key of each object.
const dataKeySize = 32

// oaepLabel is the label of every wrapped data key.
var oaepLabel = []byte("keys")

// Store encrypts the objects of the store below it.
type Store struct {
	s    objstore.Store
	key  *rsa.PrivateKey
	aead func(key []byte) (cipher.AEAD, error)
}

var (
	_ objstore.Store   = (*Store)(nil)
	_ objstore.Creator = (*Store)(nil)
)

// New encrypts the objects of s with key and algo (a format's
// EncryptAlgo).
func New(s objstore.Store, key *rsa.PrivateKey, algo string) (*Store, error) {
	e := &Store{s: s, key: key}
	switch algo {
	case "", AES256GCM:
		e.aead = newAESGCM
	case ChaCha20:
		e.aead = chacha20poly1305.New
	case SM4GCM:
		return nil, fmt.Errorf("encryption algorithm %s (SM4-GCM) is not supported by rueidisfs: only %s and %s", SM4GCM, AES256GCM, ChaCha20)
	default:
		return nil, fmt.Errorf("unknown encryption algorithm %q: the volume's format says EncryptAlgo %q; rueidisfs knows %s and %s", algo, algo, AES256GCM, ChaCha20)
	}
	return e, nil
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// String names the store as juicefs does: "s3://bucket/myjfs/(encrypted)".
func (e *Store) String() string { return e.s.String() + "(encrypted)" }

// Seal returns the envelope of plaintext.
func (e *Store) Seal(plaintext []byte) ([]byte, error) { return e.seal(nil, plaintext) }

// seal appends the envelope of plaintext to dst.
func (e *Store) seal(dst, plaintext []byte) ([]byte, error) {
	var dataKey [dataKeySize]byte
	if _, err := rand.Read(dataKey[:]); err != nil {
		return nil, err
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &e.key.PublicKey, dataKey[:], oaepLabel)
	if err != nil {
		return nil, fmt.Errorf("wrap the data key: %w", err)
	}
	aead, err := e.aead(dataKey[:])
	if err != nil {
		return nil, err
	}
	header := 3 + len(wrapped) + aead.NonceSize()
	out := slices.Grow(dst[:0], header+len(plaintext)+aead.Overhead())[:header]
	out[0], out[1], out[2] = byte(len(wrapped)>>8), byte(len(wrapped)), byte(aead.NonceSize())
	copy(out[3:], wrapped)
	nonce := out[3+len(wrapped) : header]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, nil), nil
}

// envelopes recycles the buffers of Put: a store keeps nothing of what it
// was given once Put returns.
var envelopes = sync.Pool{New: func() any { return new([]byte) }}

// Open returns the plaintext of an envelope, decrypted in place (the
// envelope's bytes are reused). Envelopes that do not open wrap
// objstore.ErrCorrupt.
func (e *Store) Open(envelope []byte) ([]byte, error) {
	s, err := e.unwrap(envelope)
	if err != nil {
		return nil, err
	}
	return s.open(s.ciphertext[:0])
}

// sealed is an envelope whose data key is unwrapped: what opens it.
type sealed struct {
	aead              cipher.AEAD
	nonce, ciphertext []byte
}

// unwrap reads an envelope's header and unwraps its data key.
func (e *Store) unwrap(envelope []byte) (*sealed, error) {
	if len(envelope) < 3 {
		return nil, fmt.Errorf("%w: %d bytes are too few for an encrypted object", objstore.ErrCorrupt, len(envelope))
	}
	keyLen, nonceLen := int(envelope[0])<<8|int(envelope[1]), int(envelope[2])
	body := 3 + keyLen + nonceLen
	if body > len(envelope) {
		return nil, fmt.Errorf("%w: encryption header of %d + %d bytes in an object of %d bytes", objstore.ErrCorrupt, keyLen, nonceLen, len(envelope))
	}
	dataKey, err := rsa.DecryptOAEP(sha256.New(), nil, e.key, envelope[3:3+keyLen], oaepLabel)
	if err != nil {
		return nil, fmt.Errorf("%w: its data key does not open with the volume's private key (another key, or corrupted)", objstore.ErrCorrupt)
	}
	aead, err := e.aead(dataKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", objstore.ErrCorrupt, err)
	}
	if nonceLen != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce of %d bytes, want %d", objstore.ErrCorrupt, nonceLen, aead.NonceSize())
	}
	if len(envelope)-body < aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes of ciphertext, shorter than its tag", objstore.ErrCorrupt, len(envelope)-body)
	}
	return &sealed{aead: aead, nonce: envelope[3+keyLen : body], ciphertext: envelope[body:]}, nil
}

// plainSize is the size of the plaintext.
func (s *sealed) plainSize() int { return len(s.ciphertext) - s.aead.Overhead() }

// open authenticates and decrypts into dst (which may be the ciphertext's
// own bytes, from its start).
func (s *sealed) open(dst []byte) ([]byte, error) {
	plain, err := s.aead.Open(dst, s.nonce, s.ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: its bytes do not authenticate (corrupted, or another algorithm)", objstore.ErrCorrupt)
	}
	return plain, nil
}

// Get fetches the whole object into a recycled buffer and unwraps its data
// key; the bytes are authenticated and decrypted when first read, straight
// into the reader's buffer when it takes the whole range at once.
func (e *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	buf := envelopes.Get().(*[]byte)
	envelope, err := objstore.ReadInto(ctx, e.s, key, *buf)
	if err != nil {
		envelopes.Put(buf)
		return nil, err
	}
	*buf = envelope[:0]
	s, err := e.unwrap(envelope)
	if err != nil {
		envelopes.Put(buf)
		return nil, fmt.Errorf("decrypt %s: %w", key, err)
	}
	size := int64(s.plainSize())
	from := min(max(off, 0), size)
	to := size
	if limit >= 0 && limit < size-from {
		to = from + limit
	}
	return &plainBody{key: key, sealed: s, buf: buf, from: from, to: to}, nil
}

// Put stores the envelope of data.
func (e *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	buf := envelopes.Get().(*[]byte)
	defer envelopes.Put(buf)
	envelope, err := e.seal(*buf, data)
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", key, err)
	}
	*buf = envelope[:0]
	return e.s.Put(ctx, key, envelope)
}

// Head describes the stored (encrypted) object.
func (e *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	return e.s.Head(ctx, key)
}

func (e *Store) Delete(ctx context.Context, key string) error { return e.s.Delete(ctx, key) }

// List lists the stored objects, with their encrypted sizes.
func (e *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return e.s.List(ctx, prefix, startAfter)
}

// Create creates the bucket below.
func (e *Store) Create(ctx context.Context) error { return objstore.Create(ctx, e.s) }

// RemoveEmptyDirs removes the empty directories of the store below.
func (e *Store) RemoveEmptyDirs(ctx context.Context, prefix string) error {
	return objstore.RemoveEmptyDirs(ctx, e.s, prefix)
}
