package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestReadPipe: a named pipe nobody writes to reads as empty instead of
// blocking the command for good; one being written is read to its end.
func TestReadPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(fifo, Secret); err != nil || len(b) != 0 {
		t.Fatalf("a pipe without writer: %q, %v", b, err)
	}
	// A pipe written before it is read: another reader holds it open, so
	// what the writer wrote before closing stays in it.
	hold, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, err := Read(fifo, Secret); err != nil || string(b) != "secret" {
		t.Fatalf("a written pipe: %q, %v", b, err)
	}
}
