package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/objstore/encrypt"
)

// openDump opens the dump or backup src of load ("" for standard input,
// named "STDIN"): decrypted with --encrypt-rsa-key (a backup a mount of an
// encrypted volume stored in its bucket is one encrypted object), then
// decompressed by its name (.gz, .zstd).
func (a *app) openDump(c *cli.Context, src string) (io.ReadCloser, string, error) {
	if src == "" {
		if c.IsSet("encrypt-rsa-key") {
			return nil, "", fmt.Errorf("--encrypt-rsa-key needs the backup as FILE, not on standard input")
		}
		return io.NopCloser(a.stdin), "STDIN", nil
	}
	if !c.IsSet("encrypt-rsa-key") {
		r, err := dump.OpenInput(src)
		if err != nil {
			return nil, "", fmt.Errorf("open the dump: %w", err)
		}
		return r, src, nil
	}
	plain, err := a.decryptBackup(c, src)
	if err != nil {
		return nil, "", err
	}
	r, err := dump.Decompress(src, bytes.NewReader(plain))
	if err != nil {
		return nil, "", err
	}
	return r, src, nil
}

// decryptBackup reads the encrypted backup src whole and opens it with
// the private key of --encrypt-rsa-key (its passphrase in
// JFS_RSA_PASSPHRASE) and --encrypt-algo, as juicefs load does.
func (a *app) decryptBackup(c *cli.Context, src string) ([]byte, error) {
	pemText, err := readRSAKey(c.String("encrypt-rsa-key"))
	if err != nil {
		return nil, err
	}
	key, err := encrypt.ParseKey(pemText, a.getenv(encrypt.PassphraseEnv))
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	box, err := encrypt.New(nil, key, c.String("encrypt-algo"))
	if err != nil {
		return nil, err
	}
	envelope, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("open the dump: %w", err)
	}
	plain, err := box.Open(envelope)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", src, err)
	}
	return plain, nil
}
