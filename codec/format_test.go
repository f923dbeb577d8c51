package codec

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestFixtureSettings: decoding and re-encoding the setting key of every
// fixture gives back the exact bytes JuiceFS stored.
func TestFixtureSettings(t *testing.T) {
	for _, vol := range fixtureVolumes {
		raw := loadFixture(t, vol)["setting"].String
		f, err := ParseSetting(raw)
		if err != nil {
			t.Fatalf("%s: %v", vol, err)
		}
		got, err := f.MarshalSetting()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raw) {
			t.Errorf("%s: re-encoded setting differs:\n%s\nwant\n%s", vol, got, raw)
		}
		if f.Tiers[0] != (Tier{}) || len(f.Tiers) != 1 || f.Storage != "file" || f.MetaVersion != 1 || !f.DirStats {
			t.Errorf("%s: %+v", vol, f)
		}
	}
	f, _ := ParseSetting(loadFixture(t, "basic")["setting"].String)
	if f.Name != "fixture-basic" || f.BlockSize != 1024 || f.TrashDays != 1 || f.EnableACL || f.MinClientVersion != "1.1.0-A" {
		t.Errorf("basic: %+v", f)
	}
	f, _ = ParseSetting(loadFixture(t, "acl-quota")["setting"].String)
	if f.Name != "fixture-aclq" || !f.EnableACL || f.TrashDays != 0 || f.MinClientVersion != "1.2.0-A" {
		t.Errorf("acl-quota: %+v", f)
	}
}

// TestFormatFieldOrder sets every field and checks names, order and the
// JuiceFS indentation of the setting value.
func TestFormatFieldOrder(t *testing.T) {
	f := Format{
		Name: "v", UUID: "u", Storage: "s3", StorageClass: "STANDARD",
		Tiers:  map[uint8]Tier{0: {ID: 0, StorageClass: "a"}, 10: {ID: 10, Tag: "k=v"}, 2: {ID: 2}},
		Bucket: "https://b/<x>&", AccessKey: "ak", SecretKey: "sk", SessionToken: "st",
		BlockSize: 4096, Compression: "lz4", Shards: 3, HashPrefix: true, Capacity: 1 << 40, Inodes: 1e6,
		EncryptKey: "ek", EncryptAlgo: "aes256gcm-rsa", KeyEncrypted: true, UploadLimit: 10, DownloadLimit: 20,
		TrashDays: 7, MetaVersion: 1, MinClientVersion: "1.4.0-A", MaxClientVersion: "2.0.0",
		DirStats: true, UserGroupQuota: true, EnableACL: true, RangerRestURL: "http://r", RangerService: "svc",
		ChangeLog: true, ChangeLogMaxAge: 7200, ChangeLogMaxLines: 100, KerbConf: "conf",
	}
	want := `{
"Name": "v",
"UUID": "u",
"Storage": "s3",
"StorageClass": "STANDARD",
"Tiers": {
"0": {
"ID": 0,
"StorageClass": "a",
"Tag": ""
},
"10": {
"ID": 10,
"StorageClass": "",
"Tag": "k=v"
},
"2": {
"ID": 2,
"StorageClass": "",
"Tag": ""
}
},
"Bucket": "https://b/\u003cx\u003e\u0026",
"AccessKey": "ak",
"SecretKey": "sk",
"SessionToken": "st",
"BlockSize": 4096,
"Compression": "lz4",
"Shards": 3,
"HashPrefix": true,
"Capacity": 1099511627776,
"Inodes": 1000000,
"EncryptKey": "ek",
"EncryptAlgo": "aes256gcm-rsa",
"KeyEncrypted": true,
"UploadLimit": 10,
"DownloadLimit": 20,
"TrashDays": 7,
"MetaVersion": 1,
"MinClientVersion": "1.4.0-A",
"MaxClientVersion": "2.0.0",
"DirStats": true,
"UserGroupQuota": true,
"EnableACL": true,
"RangerRestUrl": "http://r",
"RangerService": "svc",
"ChangeLog": true,
"ChangeLogMaxAge": 7200,
"ChangeLogMaxLines": 100,
"KerbConf": "conf"
}`
	got, err := f.MarshalSetting()
	if err != nil || string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s (%v)", got, want, err)
	}
	back, err := ParseSetting(string(got))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalSetting()
	if !bytes.Equal(again, got) {
		t.Error("not idempotent")
	}

	// Zero values: omitempty fields vanish, Tiers is null.
	got, _ = (&Format{}).MarshalSetting()
	if want := "{\n\"Name\": \"\",\n\"UUID\": \"\",\n\"Storage\": \"\",\n\"Tiers\": null,\n\"Bucket\": \"\",\n\"BlockSize\": 0,\n\"TrashDays\": 0,\n\"EnableACL\": false\n}"; string(got) != want {
		t.Errorf("zero format:\n%s", got)
	}
}

func TestParseSettingLenient(t *testing.T) {
	f, err := ParseSetting(`{"Name":"x","Unknown":1,"Tiers":null,"StorageClass":"GLACIER"}`)
	if err != nil || f.Name != "x" {
		t.Fatalf("%+v %v", f, err)
	}
	if tiers := f.EffectiveTiers(); len(tiers) != 1 || tiers[0] != (Tier{StorageClass: "GLACIER"}) {
		t.Errorf("EffectiveTiers = %v", tiers)
	}
	for _, bad := range []string{"", "null x", "[1]", `{"BlockSize":"x"}`, `{"Tiers":{"300":{}}}`} {
		if _, err := ParseSetting(bad); !IsCorruption(err) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestWithoutSecrets(t *testing.T) {
	f := &Format{Name: "v", AccessKey: "ak", SecretKey: "sk", SessionToken: "", EncryptKey: "pem", Tiers: map[uint8]Tier{0: {}}}
	c := f.WithoutSecrets()
	if c.SecretKey != "removed" || c.SessionToken != "" || c.EncryptKey != "removed" || c.AccessKey != "ak" {
		t.Errorf("copy = %+v", c)
	}
	if f.SecretKey != "sk" || f.EncryptKey != "pem" {
		t.Errorf("original modified: %+v", f)
	}
	c.Tiers[1] = Tier{ID: 1}
	if len(f.Tiers) != 1 {
		t.Error("tiers shared")
	}
}

func TestCheckVersion(t *testing.T) {
	client, _ := ParseVersion("1.4.1+2026-07-30.0b90c7d")
	tests := []struct {
		f       Format
		wantErr string
	}{
		{Format{}, ""},
		{Format{MetaVersion: 1, MinClientVersion: "1.1.0-A"}, ""},
		{Format{MinClientVersion: "1.4.1"}, ""},
		{Format{MinClientVersion: "1.4.2-A"}, "allowed minimum version: 1.4.2-A"},
		{Format{MaxClientVersion: "1.4.1-rc1"}, "allowed maximum version"},
		{Format{MaxClientVersion: "1.4.1+other"}, ""},
		{Format{MetaVersion: 2}, "metadata version 2 is newer than 1"},
		{Format{MinClientVersion: "x"}, "minimum client version"},
		{Format{MaxClientVersion: "1.2.3.4"}, "maximum client version"},
	}
	for _, tt := range tests {
		err := tt.f.CheckVersion(client)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: err = %v, want %q", tt.f, err, tt.wantErr)
		}
	}
}

func TestSessionInfo(t *testing.T) {
	mt := time.Date(2026, 11, 27, 11, 22, 3, 123456789, time.FixedZone("", 8*3600))
	s := SessionInfo{Version: "1.4.1+unknown", HostName: "h", IPAddrs: []string{"10.0.0.1", "fe80::1"},
		MountPoint: "/mnt/<jfs>", MountTime: mt, ProcessID: 42}
	got, err := s.Marshal()
	want := `{"Version":"1.4.1+unknown","HostName":"h","IPAddrs":["10.0.0.1","fe80::1"],"MountPoint":"/mnt/\u003cjfs\u003e","MountTime":"2026-11-27T11:22:03.123456789+08:00","ProcessID":42}`
	if err != nil || string(got) != want {
		t.Fatalf("got %s", got)
	}
	back, err := ParseSessionInfo(got)
	if err != nil || !back.MountTime.Equal(mt) || back.HostName != "h" || len(back.IPAddrs) != 2 {
		t.Fatalf("round trip %+v %v", back, err)
	}
	s.IPAddrs = nil
	got, _ = s.Marshal()
	if strings.Contains(string(got), "IPAddrs") {
		t.Errorf("empty IPAddrs not omitted: %s", got)
	}
	if s, err := ParseSessionInfo(""); err != nil || s.Version != "" {
		t.Errorf("empty: %+v %v", s, err)
	}
	if s, err := ParseSessionInfo(`{"Version":"1.0.0","Extra":[1]}`); err != nil || s.Version != "1.0.0" {
		t.Errorf("unknown field: %+v %v", s, err)
	}
	if _, err := ParseSessionInfo("{"); !IsCorruption(err) {
		t.Errorf("bad JSON: %v", err)
	}
}
