package meta_test

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestSessionRegistration: a writable client registers itself in
// allSessions (expiry = now + 5 heartbeats) and sessionInfos (the JSON the
// official client writes), heartbeats push the expiry forward, and closing
// removes both.
func TestSessionRegistration(t *testing.T) {
	v := newVolume(t, 0)
	e := v.open(meta.Options{Heartbeat: time.Second, MountPoint: "/mnt/test"})
	sid := e.SID()
	if sid == 0 {
		t.Fatal("no session id")
	}
	ssid := strconv.FormatUint(sid, 10)
	score := func() float64 {
		s, err := v.srv.Do(t, v.db, "ZSCORE", "allSessions", ssid).AsFloat64()
		if err != nil {
			t.Fatalf("ZSCORE: %v", err)
		}
		return s
	}
	first := score()
	if now := float64(time.Now().Unix()); first < now+4 || first > now+6 {
		t.Fatalf("expiry %v, want now+5s", first)
	}
	info, err := v.srv.Do(t, v.db, "HGET", "sessionInfos", ssid).ToString()
	if err != nil {
		t.Fatal(err)
	}
	// Field order and names as the official client writes them.
	var fields []string
	dec := json.NewDecoder(strings.NewReader(info))
	dec.Token()
	for dec.More() {
		tok, _ := dec.Token()
		fields = append(fields, tok.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	wantFields := "Version,HostName,IPAddrs,MountPoint,MountTime,ProcessID"
	if got := strings.Join(fields, ","); got != wantFields && got != strings.Replace(wantFields, "IPAddrs,", "", 1) {
		t.Fatalf("session info fields %s", got)
	}
	var si codec.SessionInfo
	if err := json.Unmarshal([]byte(info), &si); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if si.Version != meta.Version || si.HostName != host || si.MountPoint != "/mnt/test" || si.ProcessID != os.Getpid() ||
		time.Since(si.MountTime) > time.Minute {
		t.Fatalf("session info %+v", si)
	}
	// The heartbeat moves the expiry forward.
	voltest.Eventually(t, 2*time.Second, "heartbeat", voltest.Holds(func() bool { return score() > first }))

	sessions, err := v.e.Inspect().Sessions(bg)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sessions {
		found = found || s.Sid == sid
	}
	if !found {
		t.Fatalf("session %d not listed: %+v", sid, sessions)
	}
	if err := e.Close(bg); err != nil {
		t.Fatal(err)
	}
	if n, _ := v.srv.Do(t, v.db, "HEXISTS", "sessionInfos", ssid).AsInt64(); n != 0 {
		t.Fatal("session info left after close")
	}
	if _, err := v.e.Inspect().Session(bg, sid, false); err == nil {
		t.Fatal("closed session still registered")
	}
}

// TestOfficialClientSession: a session written the way JuiceFS 1.4.1 writes
// it is listed with every field.
func TestOfficialClientSession(t *testing.T) {
	v := newVolume(t, 0)
	info := `{"Version":"1.4.1+unknown","HostName":"gen-host","IPAddrs":["10.0.0.5","fe80::1"],"MountPoint":"/var/jfs/mnt","MountTime":"2026-11-27T11:22:40.123456789+01:00","ProcessID":7743}`
	expire := time.Now().Add(time.Minute).Unix()
	v.srv.Do(t, v.db, "INCR", "nextsession")
	v.srv.Do(t, v.db, "ZADD", "allSessions", strconv.FormatInt(expire, 10), "77")
	v.srv.Do(t, v.db, "HSET", "sessionInfos", "77", info)
	v.srv.Do(t, v.db, "SADD", "session77", "12345")
	s, err := v.e.Inspect().Session(bg, 77, true)
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := time.Parse(time.RFC3339Nano, "2026-11-27T11:22:40.123456789+01:00")
	if s.Version != "1.4.1+unknown" || s.HostName != "gen-host" || len(s.IPAddrs) != 2 || s.MountPoint != "/var/jfs/mnt" ||
		!s.MountTime.Equal(mt) || s.ProcessID != 7743 || s.Expire.Unix() != expire || len(s.Sustained) != 1 || s.Sustained[0] != 12345 {
		t.Fatalf("session %+v", s)
	}
	// The volume is consistent only without the fake sustained inode.
	v.srv.Do(t, v.db, "DEL", "session77")
}

// TestStaleSessionCleanup: a session whose heartbeat stopped is removed by
// another client, which also deletes the files it kept open after deletion.
func TestStaleSessionCleanup(t *testing.T) {
	v := newVolume(t, 0)
	crashed := v.open(meta.Options{NoBackgroundJobs: true})
	f, _, err := crashed.Create(bg, meta.RootInode, "open", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.Unlink(bg, meta.RootInode, "open", false); err != nil {
		t.Fatal(err)
	}
	sid := crashed.SID()
	// The process "crashes": its heartbeat stops and its expiry passes.
	v.srv.Do(t, v.db, "ZADD", "allSessions", strconv.FormatInt(time.Now().Unix()-1, 10), strconv.FormatUint(sid, 10))
	v.e.Cleanup().CleanStaleSessions(bg)
	if _, err := v.e.Inspect().Session(bg, sid, false); err == nil {
		t.Fatal("stale session still registered")
	}
	if _, err := v.e.GetAttr(bg, f); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("sustained inode of the stale session: %v", err)
	}
	if n, _ := v.srv.Do(t, v.db, "EXISTS", "session"+strconv.FormatUint(sid, 10)).AsInt64(); n != 0 {
		t.Fatal("sustained set left behind")
	}
	v.check()
}

// TestVersionGate: a volume whose metadata version or client-version limits
// exclude this client is refused with a clear error.
func TestVersionGate(t *testing.T) {
	for _, c := range []struct {
		name   string
		modify func(f *codec.Format)
		ok     bool
	}{
		{"current", func(f *codec.Format) {}, true},
		{"meta version 2", func(f *codec.Format) { f.MetaVersion = 2 }, false},
		{"min client 1.1.0-A", func(f *codec.Format) { f.MinClientVersion = "1.1.0-A" }, true},
		{"min client 9.0.0", func(f *codec.Format) { f.MinClientVersion = "9.0.0" }, false},
		{"max client 1.4.1", func(f *codec.Format) { f.MaxClientVersion = "1.4.1" }, true},
		{"max client 1.3.0", func(f *codec.Format) { f.MaxClientVersion = "1.3.0" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVolume(t, 0)
			f := *v.e.Format()
			c.modify(&f)
			b, _ := f.MarshalSetting()
			v.srv.Do(t, v.db, "SET", "setting", string(b))
			e, err := meta.Open(bg, v.url, meta.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(bg)
			err = e.NewSession(bg, true)
			if c.ok != (err == nil) {
				t.Fatalf("NewSession: %v", err)
			}
			if err != nil && (!errors.Is(err, meta.ErrIncompatible) || !strings.Contains(err.Error(), "version")) {
				t.Fatalf("error %q", err)
			}
		})
	}
}
