package backup_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// loadFails loads b into a fresh database, expects an error containing
// want, and checks that nothing was written.
func loadFails(t *testing.T, b []byte, want string) error {
	t.Helper()
	e, srv, db := openEmpty(t)
	_, err := backup.Load(context.Background(), e, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{Threads: 4})
	if err == nil {
		t.Fatalf("a backup that should be refused (%s) loaded", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is more than one line: %q", err)
	}
	if n := dbKeys(t, srv, db); n != 0 {
		t.Fatalf("a refused load left %d keys", n)
	}
	return err
}

// TestTruncated: a backup cut anywhere is refused, with the offset, and
// writes nothing.
func TestTruncated(t *testing.T) {
	b := officialBackup(t, "basic")
	for _, n := range []int{0, 11, 12, 100, 391, 392, 5000, 33015, len(b) / 2, len(b) - 200, len(b) - 9, len(b) - 1} {
		err := loadFails(t, b[:n], "invalid binary backup: at byte ")
		if !errors.Is(err, backup.ErrInvalid) {
			t.Errorf("cut at %d: %v does not wrap ErrInvalid", n, err)
		}
	}
	// Every cut of a small backup is refused.
	small := officialBackup(t, "empty")
	for n := range small {
		if _, err := backup.Check(context.Background(), bytes.NewReader(small[:n]), int64(n), 2, nil); !errors.Is(err, backup.ErrInvalid) {
			t.Fatalf("a backup cut at byte %d of %d: %v", n, len(small), err)
		}
	}
}

// TestCorrupted: damage to the structure is found before anything is
// written, with the byte offset and the reason.
func TestCorrupted(t *testing.T) {
	orig := officialBackup(t, "basic")
	footerLen := int(binary.BigEndian.Uint64(orig[len(orig)-8:]))
	footerAt := len(orig) - 8 - footerLen
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
		want   string
	}{
		{"unknown segment type", func(b []byte) { binary.BigEndian.PutUint32(b[391:], 99) }, "at byte 391: unknown segment type 99"},
		{"segment longer than the file", func(b []byte) { binary.BigEndian.PutUint64(b[395:], 1<<40) }, "at byte 395: counter segment of 1099511627776 bytes runs past the end"},
		{"segment length off by one", func(b []byte) { binary.BigEndian.PutUint64(b[395:], binary.BigEndian.Uint64(b[395:])+1) }, "at byte "},
		{"end marker", func(b []byte) { b[footerAt-1] ^= 0xff }, "end marker"},
		{"footer length", func(b []byte) { binary.BigEndian.PutUint64(b[len(b)-8:], 1<<50) }, "footer length 1125899906842624 does not fit in the file"},
		{"newer format version", func(b []byte) { setFooterVersion(t, b, footerAt, 2) }, "backup format version 2 is newer than 1, the newest this rueidisfs reads"},
		{"record garbage", func(b []byte) { copy(b[2586+12:], []byte{0xff, 0xff, 0xff}) }, "node segment at byte 2586"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			tc.damage(b)
			loadFails(t, b, tc.want)
		})
	}
}

// setFooterVersion rewrites the version field of a footer (field 2, one
// byte varint, right after the magic's field).
func setFooterVersion(t *testing.T, b []byte, footerAt, v int) {
	t.Helper()
	// footer: 0x08 magic(varint) 0x10 version
	i := bytes.IndexByte(b[footerAt:], 0x10)
	if i < 0 {
		t.Fatal("no version field in the footer")
	}
	b[footerAt+i+1] = byte(v)
}

// TestNotEmpty: a database that holds keys is refused and left alone.
func TestNotEmpty(t *testing.T) {
	e, srv, db := openEmpty(t)
	srv.Do(t, db, "SET", "somebody-else", "x")
	b := officialBackup(t, "basic")
	_, err := backup.Load(context.Background(), e, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{})
	if !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("load into a used database: %v", err)
	}
	if n := dbKeys(t, srv, db); n != 1 {
		t.Fatalf("the used database has %d keys after a refused load", n)
	}
}

// TestWriteFailureUndone: when Redis refuses a command half way (here the
// user may not HINCRBY, which the parents of hard links need), the keys
// written are deleted again and the error says so.
func TestWriteFailureUndone(t *testing.T) {
	srv := redistest.Start(t, redistest.WithACLUser("loader", "pw", "~*", "&*", "+@all", "-hincrby"))
	e, err := meta.Open(context.Background(), srv.URLAs("redis", "loader", "pw", 0), meta.Options{NoBackgroundJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	b := officialBackup(t, "basic")
	_, err = backup.Load(context.Background(), e, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{Threads: 1})
	if !errors.Is(err, backup.ErrLoadFailed) || !strings.Contains(err.Error(), "were deleted, the database is empty again") {
		t.Fatalf("load with a failing command: %v", err)
	}
	if n := dbKeys(t, srv, 0); n != 0 {
		t.Fatalf("a failed load left %d keys", n)
	}
}

// FuzzCheck: whatever the bytes, Check answers without panicking, and a
// backup it accepts loads its records into nothing it could not hold.
func FuzzCheck(f *testing.F) {
	f.Add(officialBackup(f, "empty")) // small seeds keep the fuzzer fast
	f.Add(officialBackup(f, "acl-quota"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = backup.Check(context.Background(), bytes.NewReader(b), int64(len(b)), 2, nil)
	})
}
