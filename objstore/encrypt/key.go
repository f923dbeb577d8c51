package encrypt

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
)

// PassphraseEnv names the environment variable holding the passphrase of
// a volume's private key, as juicefs reads it.
const PassphraseEnv = "JFS_RSA_PASSPHRASE"

// Errors of ParseKey that a user fixes differently.
var (
	// ErrNeedPassphrase: the key is protected and no passphrase was given.
	ErrNeedPassphrase = errors.New("the volume's private key is protected by a passphrase: set " + PassphraseEnv)
	// ErrWrongPassphrase: the passphrase does not open the key.
	ErrWrongPassphrase = errors.New("the passphrase in " + PassphraseEnv + " does not open the volume's private key")
)

// ParseKey reads the private key stored in a volume's format (the PEM text
// of `format --encrypt-rsa-key`): a PKCS #1 or PKCS #8 RSA key, plain or
// protected by passphrase (legacy PEM encryption with Proc-Type and
// DEK-Info headers, or an encrypted PKCS #8 key as OpenSSL 3 writes by
// default). A passphrase given for a plain key is ignored.
func ParseKey(pemText string, passphrase string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("the volume's encryption key is not a PEM private key")
	}
	der := block.Bytes
	switch {
	//lint:ignore SA1019 legacy PEM encryption is what `openssl genrsa -traditional -aes256` writes
	case x509.IsEncryptedPEMBlock(block):
		if passphrase == "" {
			return nil, ErrNeedPassphrase
		}
		var err error
		//lint:ignore SA1019 see above
		if der, err = x509.DecryptPEMBlock(block, []byte(passphrase)); err != nil {
			return nil, ErrWrongPassphrase
		}
		key, err := parseDER(der)
		if err != nil { // a wrong passphrase may get past the padding check
			return nil, ErrWrongPassphrase
		}
		return key, nil
	case strings.Contains(block.Type, "ENCRYPTED"):
		if passphrase == "" {
			return nil, ErrNeedPassphrase
		}
		key, err := pkcs8.ParsePKCS8PrivateKey(der, []byte(passphrase))
		if err != nil {
			if strings.Contains(err.Error(), "incorrect password") || strings.Contains(err.Error(), "decryption password") {
				return nil, ErrWrongPassphrase
			}
			return nil, fmt.Errorf("the volume's encrypted private key cannot be read: %w", err)
		}
		return rsaKey(key)
	}
	return parseDER(der)
}

// parseDER reads an unencrypted PKCS #1 or PKCS #8 key.
func parseDER(der []byte) (*rsa.PrivateKey, error) {
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("the volume's private key is neither a PKCS #1 nor a PKCS #8 key")
	}
	return rsaKey(key)
}

func rsaKey(key any) (*rsa.PrivateKey, error) {
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the volume's private key is a %s key: rueidisfs encrypts data with RSA keys only", keyKind(key))
	}
	return k, nil
}

func keyKind(key any) string {
	name := fmt.Sprintf("%T", key) // *ecdsa.PrivateKey, ed25519.PrivateKey, …
	name = strings.TrimPrefix(name, "*")
	name, _, _ = strings.Cut(name, ".")
	return strings.ToUpper(name)
}
