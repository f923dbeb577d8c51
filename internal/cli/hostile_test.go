package cli

import (
	"strings"
	"testing"
)

// TestDamagedSettingRefused: a volume whose setting holds a block size of
// 0 (a hand-edited or corrupted format) is refused by every tool with an
// error naming the key, instead of being trusted: info divided by zero
// (a panic), fsck checked no block and gc --delete took live blocks for
// leaked ones.
func TestDamagedSettingRefused(t *testing.T) {
	url, srv, db := newDB(t)
	formatVolume(t, url, "damaged")
	f := storedFormat(t, url)
	good, err := f.MarshalSetting()
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"BlockSize": 4096`, `"BlockSize": 0`, 1)
	if bad == string(good) {
		t.Fatalf("no block size in %s", good)
	}
	srv.Do(t, db, "SET", "setting", bad)
	for _, args := range [][]string{
		{"info", url, "/"}, {"fsck", url}, {"gc", url, "--delete"}, {"summary", url, "/"},
		{"dump", url, t.TempDir() + "/dump.json"}, {"status", url}, {"quota", "list", url},
	} {
		r := run(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, `"setting"`) || !strings.Contains(r.stderr, "block size 0") {
			t.Errorf("%s on a block size of 0: exit %d\n%s", args[0], r.code, r.stderr)
		}
	}
	srv.Do(t, db, "SET", "setting", string(good))
}
