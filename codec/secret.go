package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Secret encryption of the setting.
//
// The three secrets of a format (SecretKey, SessionToken, EncryptKey) are
// stored encrypted when KeyEncrypted is true: each non-empty one is
// base64(nonce || AES-GCM ciphertext), with a 12-byte random nonce, no
// additional data, and the AES-128 key MD5(UUID). Volumes whose EncryptAlgo is
// sm4gcm use SM4-GCM instead, which rueidisfs does not implement.

// AlgoSM4GCM is the EncryptAlgo whose secrets are sealed with SM4-GCM.
const AlgoSM4GCM = "sm4gcm"

var (
	// ErrSecretRemoved: a secret holds the placeholder "removed" (the volume
	// was loaded from a dump without secrets) and cannot be decrypted.
	ErrSecretRemoved = errors.New("secret was removed; set it again with `config`")
	// ErrSM4Unsupported: the secrets are sealed with SM4-GCM (EncryptAlgo
	// sm4gcm), which rueidisfs cannot encrypt or decrypt.
	ErrSM4Unsupported = errors.New("secrets of volumes with EncryptAlgo sm4gcm are sealed with SM4, which rueidisfs does not implement")
)

// secretFields returns pointers to the secrets, in the order JuiceFS
// decrypts them.
func (f *Format) secretFields() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{{"EncryptKey", &f.EncryptKey}, {"SecretKey", &f.SecretKey}, {"SessionToken", &f.SessionToken}}
}

func (f *Format) hasSecrets() bool {
	return f.SecretKey != "" || f.SessionToken != "" || f.EncryptKey != ""
}

func (f *Format) secretCipher() (cipher.AEAD, error) {
	if f.EncryptAlgo == AlgoSM4GCM {
		return nil, ErrSM4Unsupported
	}
	key := md5.Sum([]byte(f.UUID))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// EncryptSecrets seals every non-empty secret with the volume UUID and sets
// KeyEncrypted, as `juicefs format` does for a new volume. Nonces are read
// from random (pass crypto/rand.Reader). It does nothing when the secrets
// are already encrypted or there are none; on error f is unchanged.
func (f *Format) EncryptSecrets(random io.Reader) error {
	if f.KeyEncrypted || !f.hasSecrets() {
		return nil
	}
	aead, err := f.secretCipher()
	if err != nil {
		return err
	}
	fields := f.secretFields()
	sealed := make([]string, len(fields))
	for i, s := range fields {
		if *s.v == "" {
			continue
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := io.ReadFull(random, nonce); err != nil {
			return fmt.Errorf("nonce for %s: %w", s.name, err)
		}
		sealed[i] = base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(*s.v), nil))
	}
	for i, s := range fields {
		if sealed[i] != "" {
			*s.v = sealed[i]
		}
	}
	f.KeyEncrypted = true
	return nil
}

// DecryptSecrets opens the secrets sealed by EncryptSecrets (or by the
// official client) and clears KeyEncrypted. Like JuiceFS, it tries every
// secret even when one fails, clears KeyEncrypted anyway and leaves a failed
// secret as it was; the error then names every failure. A secret holding
// "removed" gives ErrSecretRemoved. Nothing happens when KeyEncrypted is
// false.
func (f *Format) DecryptSecrets() error {
	if !f.KeyEncrypted {
		return nil
	}
	if !f.hasSecrets() {
		f.KeyEncrypted = false
		return nil
	}
	aead, err := f.secretCipher()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range f.secretFields() {
		if *s.v == "" {
			continue
		}
		if *s.v == RemovedSecret {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, ErrSecretRemoved))
			continue
		}
		buf, err := base64.StdEncoding.DecodeString(*s.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: not base64: %w", s.name, err))
			continue
		}
		if len(buf) < aead.NonceSize()+aead.Overhead() {
			errs = append(errs, fmt.Errorf("%s: sealed value has %d bytes, too short", s.name, len(buf)))
			continue
		}
		n := aead.NonceSize()
		plain, err := aead.Open(nil, buf[:n], buf[n:], nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot open with the volume UUID: %w", s.name, err))
			continue
		}
		*s.v = string(plain)
	}
	f.KeyEncrypted = false
	return errors.Join(errs...)
}
