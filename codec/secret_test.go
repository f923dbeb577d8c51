package codec

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// Known answers computed independently (Python's cryptography package:
// AESGCM(md5(uuid)).encrypt(nonce, plaintext, None), base64 of nonce||result).
const secretUUID = "ec3a15b1-2057-4b01-9238-7a1c055ce137"

var secretVectors = []struct {
	plain  string
	nonce  []byte
	sealed string
}{
	{"my-secret-key", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "AAECAwQFBgcICQoL+0VjPoa5h4oM9r9+nxvNfvgoT93WYXXvt9SnxUM="},
	{"token\x00with nul", bytes.Repeat([]byte{0xff}, 12), "////////////////9BtOGyWHn+P1OCnf2mhv3BKqG2vEA+MMH3PoG8Aq"},
}

func TestEncryptSecretsKnownAnswer(t *testing.T) {
	for _, v := range secretVectors {
		f := Format{UUID: secretUUID, EncryptAlgo: "aes256gcm-rsa", SecretKey: v.plain}
		if err := f.EncryptSecrets(bytes.NewReader(v.nonce)); err != nil {
			t.Fatal(err)
		}
		if f.SecretKey != v.sealed || !f.KeyEncrypted {
			t.Errorf("sealed %q as %q (encrypted %v), want %q", v.plain, f.SecretKey, f.KeyEncrypted, v.sealed)
		}
		g := Format{UUID: secretUUID, SessionToken: v.sealed, KeyEncrypted: true}
		if err := g.DecryptSecrets(); err != nil {
			t.Fatal(err)
		}
		if g.SessionToken != v.plain || g.KeyEncrypted {
			t.Errorf("opened %q as %q (encrypted %v)", v.sealed, g.SessionToken, g.KeyEncrypted)
		}
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	f := Format{UUID: "u-1", SecretKey: "sk", SessionToken: "", EncryptKey: "-----BEGIN RSA PRIVATE KEY-----\n"}
	if err := f.EncryptSecrets(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.SecretKey == "sk" || f.SessionToken != "" || !f.KeyEncrypted {
		t.Fatalf("not sealed: %+v", f)
	}
	again := f
	if err := again.EncryptSecrets(rand.Reader); err != nil || again.SecretKey != f.SecretKey || again.EncryptKey != f.EncryptKey {
		t.Fatalf("second EncryptSecrets changed the format: %v", err)
	}
	wrong := f
	wrong.UUID = "u-2"
	if err := wrong.DecryptSecrets(); err == nil {
		t.Fatal("opened with the wrong UUID")
	}
	if err := f.DecryptSecrets(); err != nil {
		t.Fatal(err)
	}
	if f.SecretKey != "sk" || f.EncryptKey != "-----BEGIN RSA PRIVATE KEY-----\n" || f.KeyEncrypted {
		t.Fatalf("round trip: %+v", f)
	}
}

func TestDecryptSecretsRemoved(t *testing.T) {
	f := Format{UUID: secretUUID, KeyEncrypted: true, SecretKey: RemovedSecret, SessionToken: secretVectors[0].sealed}
	err := f.DecryptSecrets()
	if !errors.Is(err, ErrSecretRemoved) {
		t.Fatalf("want ErrSecretRemoved, got %v", err)
	}
	if f.SessionToken != secretVectors[0].plain || f.SecretKey != RemovedSecret || f.KeyEncrypted {
		t.Fatalf("the other secret must still be opened: %+v", f)
	}
	short := Format{UUID: secretUUID, KeyEncrypted: true, SecretKey: "AAEC"}
	if err := short.DecryptSecrets(); err == nil {
		t.Fatal("a too short value was accepted")
	}
}

func TestSecretsSM4(t *testing.T) {
	f := Format{UUID: secretUUID, EncryptAlgo: AlgoSM4GCM, SecretKey: "sk"}
	if err := f.EncryptSecrets(rand.Reader); !errors.Is(err, ErrSM4Unsupported) || f.SecretKey != "sk" || f.KeyEncrypted {
		t.Fatalf("sm4gcm: %v %+v", err, f)
	}
	plain := Format{UUID: secretUUID, EncryptAlgo: AlgoSM4GCM}
	if err := plain.EncryptSecrets(rand.Reader); err != nil || plain.KeyEncrypted {
		t.Fatalf("no secrets: %v %+v", err, plain)
	}
}
