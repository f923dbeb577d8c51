package codec

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// fixtureDir holds the keyspaces captured from the official client.
const fixtureDir = "../testdata/juicefs-1.4.1"

var fixtureVolumes = []string{"basic", "acl-quota", "empty"}

// fixtureKey is one decoded key of a keyspace.json export.
type fixtureKey struct {
	Name   string
	Type   string
	String []byte            // string keys
	Hash   map[string][]byte // hash keys
	List   [][]byte          // list keys
}

// loadFixture decodes volume's keyspace.json into a map by key name.
func loadFixture(t testing.TB, volume string) map[string]*fixtureKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, volume, "keyspace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []struct {
			Key       string          `json:"key"`
			KeyB64    bool            `json:"key_b64"`
			Type      string          `json:"type"`
			B64Fields bool            `json:"b64_fields"`
			Value     json.RawMessage `json:"value"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", volume, err)
		}
		return b
	}
	out := make(map[string]*fixtureKey, len(doc.Keys))
	for _, k := range doc.Keys {
		fk := &fixtureKey{Name: k.Key, Type: k.Type}
		if k.KeyB64 {
			fk.Name = string(dec(k.Key))
		}
		switch k.Type {
		case "string":
			var s string
			if err := json.Unmarshal(k.Value, &s); err != nil {
				t.Fatal(err)
			}
			fk.String = dec(s)
		case "hash":
			var m map[string]string
			if err := json.Unmarshal(k.Value, &m); err != nil {
				t.Fatal(err)
			}
			fk.Hash = make(map[string][]byte, len(m))
			for f, v := range m {
				if k.B64Fields {
					f = string(dec(f))
				}
				fk.Hash[f] = dec(v)
			}
		case "list":
			var l []string
			if err := json.Unmarshal(k.Value, &l); err != nil {
				t.Fatal(err)
			}
			for _, v := range l {
				fk.List = append(fk.List, dec(v))
			}
		}
		out[fk.Name] = fk
	}
	return out
}

// sortedNames returns the key names of ks starting with family letter c
// followed by a digit, sorted.
func sortedNames(ks map[string]*fixtureKey, c byte) []string {
	var names []string
	for n := range ks {
		if len(n) > 1 && n[0] == c && n[1] >= '0' && n[1] <= '9' {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// manifestEntry is the subset of a manifest.json entry the tests compare.
type manifestEntry struct {
	Path      string `json:"path"`
	Type      string `json:"type"`
	Ino       uint64 `json:"ino"`
	Mode      string `json:"mode"`
	UID       uint32 `json:"uid"`
	GID       uint32 `json:"gid"`
	Size      uint64 `json:"size"`
	Nlink     uint32 `json:"nlink"`
	MtimeNs   int64  `json:"mtime_ns"`
	CtimeNs   int64  `json:"ctime_ns"`
	AtimeNs   int64  `json:"atime_ns"`
	RdevMajor uint32 `json:"rdev_major"`
	RdevMinor uint32 `json:"rdev_minor"`
}

func loadManifest(t testing.TB, volume string) []manifestEntry {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, volume, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []manifestEntry `json:"entries"`
		Trash   []manifestEntry `json:"trash"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return append(doc.Entries, doc.Trash...)
}
