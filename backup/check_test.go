package backup

import (
	"context"
	"os"
	"testing"
)

// official opens a backup made by `juicefs dump --binary`.
func official(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func size(t *testing.T, f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestCheckOfficial: the official client's backups pass the check, with
// the record counts its footer gives.
func TestCheckOfficial(t *testing.T) {
	for _, vol := range []string{"basic", "acl-quota", "empty"} {
		f := official(t, vol)
		s, err := Check(context.Background(), f, size(t, f), 4, nil)
		if err != nil {
			t.Fatalf("%s: %v", vol, err)
		}
		for _, name := range s.Footer.Names() {
			typ, _ := segTypeByName(name)
			if s.Records[typ] != s.Footer.Infos[name].Num {
				t.Errorf("%s: %d %s records, footer %d", vol, s.Records[typ], name, s.Footer.Infos[name].Num)
			}
		}
		t.Logf("%s: %s, records %v", vol, s.Format.Name, s.Records)
	}
}
