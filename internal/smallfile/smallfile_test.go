package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead: a file within the bound is read whole; /dev/zero (endless)
// and a file one byte too long are refused at once.
func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(path, 10); err != nil || string(b) != "0123456789" {
		t.Fatalf("%q, %v", b, err)
	}
	if _, err := Read(path, 9); err == nil || !strings.Contains(err.Error(), "more than 9 bytes") {
		t.Fatalf("one byte too long: %v", err)
	}
	if _, err := Read("/dev/zero", Secret); err == nil {
		t.Fatal("/dev/zero was read")
	}
	if _, err := Read(filepath.Join(t.TempDir(), "absent"), Secret); !os.IsNotExist(err) {
		t.Fatalf("absent file: %v", err)
	}
}
