package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Session is a client registered on the volume, as `status` shows it. The
// JSON shape is the one `juicefs status` prints.
type Session struct {
	Sid    uint64
	Expire time.Time
	codec.SessionInfo
	Sustained []Ino   `json:",omitempty"`
	Flocks    []Flock `json:",omitempty"`
	Plocks    []Plock `json:",omitempty"`
}

// Flock is a BSD lock held by a session.
type Flock struct {
	Inode Ino
	Owner uint64
	Ltype string
}

// Plock is the POSIX record locks of one owner of a session on one inode.
type Plock struct {
	Inode   Ino
	Owner   uint64
	Records []codec.PosixLock
}

// SID returns the id of this client's registered session, 0 if none.
func (e *Engine) SID() uint64 { return e.sid.Load() }

func (e *Engine) expireTime() int64 {
	return e.now().Add(5 * e.opts.Heartbeat).Unix()
}

func (e *Engine) sessionInfo() string {
	host, _ := os.Hostname()
	info := codec.SessionInfo{
		Version:    Version,
		HostName:   host,
		IPAddrs:    localIPs(),
		MountPoint: e.opts.MountPoint,
		MountTime:  e.now(),
		ProcessID:  os.Getpid(),
	}
	b, err := json.Marshal(&info)
	if err != nil {
		panic(err) // a plain struct always encodes
	}
	return string(b)
}

// localIPs lists this host's addresses the way the official client records
// them (every interface address but loopback and link-local).
func localIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ipn.IP.String())
	}
	return out
}

// NewSession loads the format (with version checks) and starts this client's
// life on the volume: with record, a writable client registers a session
// (allSessions, sessionInfos) and heartbeats it; every client reloads the
// format and counters each heartbeat; writable clients flush directory
// statistics and quota usage and, unless disabled, run the cluster-wide
// cleanup jobs.
func (e *Engine) NewSession(ctx context.Context, record bool) error {
	if _, err := e.Load(ctx, true); err != nil {
		return err
	}
	if err := e.loadACLs(ctx); err != nil {
		return err
	}
	if !e.readOnly() && record {
		sid, err := e.rdb.Do(ctx, e.rdb.B().Incr().Key(e.keys.NextSession()).Build()).AsInt64()
		if err != nil {
			return e.redisErr("INCR "+e.keys.NextSession(), err)
		}
		ssid := strconv.FormatInt(sid, 10)
		err = e.runTx(ctx, func(tx *Tx) error {
			tx.Do("ZADD", e.keys.AllSessions(), strconv.FormatInt(e.expireTime(), 10), ssid)
			tx.HSet(e.keys.SessionInfos(), ssid, e.sessionInfo())
			return nil
		})
		if err != nil {
			return fmt.Errorf("register session %d: %w", sid, err)
		}
		e.sid.Store(uint64(sid))
		e.log.Info(fmt.Sprintf("Create session %d OK with version: %s", sid, Version))
	}
	if !e.readOnly() {
		if err := e.stats.loadQuotas(ctx); err != nil {
			e.log.Warn(fmt.Sprintf("load quotas: %v", err))
		}
	}
	bg, cancel := context.WithCancel(e.life)
	e.sessionStop = cancel
	e.goSession(func() { e.heartbeatLoop(bg) })
	if !e.readOnly() {
		e.goSession(func() { e.stats.run(bg) })
		if !e.opts.NoBackgroundJobs {
			e.startCleanupJobs(bg)
		}
	}
	return nil
}

// goSession runs fn, background work of the session that CloseSession
// stops, in a goroutine.
func (e *Engine) goSession(fn func()) { e.spawn(&e.sessionWG, fn) }

// jitter returns d ± 5 %, so that clients started together do not
// heartbeat in lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.1*float64(d))
}

func (e *Engine) heartbeatLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(e.opts.Heartbeat)):
		}
		e.heartbeat(ctx)
	}
}

// heartbeat refreshes the session, reloads the format, counters and quotas
// and possibly elects this client to clean stale sessions.
func (e *Engine) heartbeat(ctx context.Context) {
	if sid := e.sid.Load(); sid != 0 {
		if err := e.refreshSession(ctx, sid); err != nil {
			e.log.Warn(fmt.Sprintf("refresh session %d: %v", sid, err))
		}
	}
	old := e.format.Load()
	f, err := e.readFormat(ctx)
	switch {
	case errors.Is(err, ErrNotFormatted):
		e.log.Error("reload setting: the volume was destroyed or reformatted; the engine stops accepting operations")
		e.fence()
	case err != nil:
		e.log.Warn(fmt.Sprintf("reload setting: %v", err))
	case f.CheckMetaVersion() != nil:
		e.log.Error(fmt.Sprintf("reload setting: %v; the engine stops accepting operations", f.CheckMetaVersion()))
		e.fence()
	case old != nil && f.UUID != old.UUID:
		e.log.Error(fmt.Sprintf("volume UUID changed from %s to %s; the engine stops accepting operations", old.UUID, f.UUID))
		e.fence()
	default:
		e.format.Store(f)
	}
	if !e.readOnly() {
		if err := e.stats.loadQuotas(ctx); err != nil {
			e.log.Warn(fmt.Sprintf("load quotas: %v", err))
		}
	}
	if e.readOnly() || e.opts.NoBackgroundJobs || e.sid.Load() == 0 {
		return
	}
	ok, err := e.electJob(ctx, e.keys.LastCleanupSessions(), int64((e.opts.Heartbeat*9/10)/time.Second))
	if err != nil {
		e.log.Warn(fmt.Sprintf("checking counter lastCleanupSessions: %v", err))
	} else if ok {
		e.Cleanup().CleanStaleSessions(ctx)
	}
}

func (e *Engine) refreshSession(ctx context.Context, sid uint64) error {
	ssid := strconv.FormatUint(sid, 10)
	return e.runTx(ctx, func(tx *Tx) error {
		if _, present, err := tx.HGet(e.keys.SessionInfos(), ssid); err != nil {
			return err
		} else if !present {
			e.log.Warn(fmt.Sprintf("session %d was cleaned up as stale; registering it again", sid))
			tx.HSet(e.keys.SessionInfos(), ssid, e.sessionInfo())
		}
		tx.Do("ZADD", e.keys.AllSessions(), strconv.FormatInt(e.expireTime(), 10), ssid)
		return nil
	})
}

// electJob implements the official client's "at most one runner per
// interval" rule: the job runs only if the timestamp key is older than
// interval seconds, and this client atomically sets it to now.
func (e *Engine) electJob(ctx context.Context, key string, interval int64) (bool, error) {
	now := e.now().Unix()
	won := false
	err := e.runTx(ctx, func(tx *Tx) error {
		won = false
		v, present, err := tx.Get(key)
		if err != nil {
			return err
		}
		var last int64
		if present {
			if last, err = codec.ParseInt(key, "", v); err != nil {
				return err
			}
		}
		if last > now-interval {
			return nil
		}
		tx.Set(key, strconv.FormatInt(now, 10))
		won = true
		return nil
	})
	return won, err
}

// CloseSession flushes pending statistics, stops the background work and
// removes this client's session the way a stale one is cleaned: its locks
// are released and files it kept open after deletion are deleted.
func (e *Engine) CloseSession(ctx context.Context) error {
	var flushErr, err error
	if !e.readOnly() {
		e.stats.flushAll(ctx) // what fails is sent again below
	}
	if e.sessionStop != nil {
		e.sessionStop()
		e.sessionWG.Wait()
		e.sessionStop = nil
	}
	if !e.readOnly() {
		// The last chance: what is not stored now is lost, which the
		// caller (the command's exit status) must hear of.
		flushErr = e.stats.flushAll(ctx)
	}
	if sid := e.sid.Load(); sid != 0 {
		err = e.cleanSession(ctx, sid)
		e.sid.Store(0)
	}
	return errors.Join(flushErr, err)
}

// CleanStaleSessions removes up to 1000 sessions whose heartbeat expired,
// releasing their locks and deleting their sustained inodes.
func (c Cleaner) CleanStaleSessions(ctx context.Context) {
	e := c.e
	now := e.now().Unix()
	sids, err := e.rdb.Do(ctx, e.rdb.B().Zrangebyscore().Key(e.keys.AllSessions()).Min("-inf").
		Max(strconv.FormatInt(now, 10)).Limit(0, 1000).Build()).AsStrSlice()
	if err != nil {
		e.log.Warn(fmt.Sprintf("scan stale sessions: %v", err))
		return
	}
	legacy, err := e.rdb.Do(ctx, e.rdb.B().Zrangebyscore().Key(e.keys.LegacySessions()).Min("-inf").
		Max(strconv.FormatInt(now-300, 10)).Limit(0, 1000).Build()).AsStrSlice()
	if err == nil {
		sids = append(sids, legacy...)
	}
	for _, s := range sids {
		sid, err := strconv.ParseUint(s, 10, 64)
		if err != nil || sid == 0 {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		err = e.cleanSession(ctx, sid)
		e.log.Info(fmt.Sprintf("clean up stale session %d: %v", sid, err))
	}
}

// cleanSession releases the locks and sustained inodes of a session and,
// when that fully succeeded, unregisters it.
func (e *Engine) cleanSession(ctx context.Context, sid uint64) error {
	ssid := strconv.FormatUint(sid, 10)
	failed := false
	lockedKey := e.keys.Locked(sid)
	if locks, err := e.rdb.Do(ctx, e.rdb.B().Smembers().Key(lockedKey).Build()).AsStrSlice(); err == nil {
		for _, lk := range locks {
			owners, err := e.rdb.Do(ctx, e.rdb.B().Hkeys().Key(lk).Build()).AsStrSlice()
			if err != nil {
				failed = true
				continue
			}
			var mine []string
			for _, o := range owners {
				if owner, _, _ := strings.Cut(o, "_"); owner == ssid {
					mine = append(mine, o)
				}
			}
			cmds := []rueidisCompleted{}
			if len(mine) > 0 {
				cmds = append(cmds, e.rdb.B().Hdel().Key(lk).Field(mine...).Build())
			}
			cmds = append(cmds, e.rdb.B().Srem().Key(lockedKey).Member(lk).Build())
			for _, r := range e.rdb.DoMulti(ctx, cmds...) {
				if r.Error() != nil {
					failed = true
				}
			}
			e.cache.Invalidate(lk)
		}
	} else {
		failed = true
	}
	if inodes, err := e.rdb.Do(ctx, e.rdb.B().Smembers().Key(e.keys.Sustained(sid)).Build()).AsStrSlice(); err == nil {
		for _, s := range inodes {
			ino, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				continue
			}
			if err := e.deleteSustained(ctx, sid, Ino(ino)); err != nil {
				e.log.Warn(fmt.Sprintf("delete sustained inode %d of session %d: %v", ino, sid, err))
				failed = true
			}
		}
	} else {
		failed = true
	}
	if failed {
		return fmt.Errorf("failed to clean up session %d; it is left for a later attempt", sid)
	}
	removed := 0
	err := e.runTx(ctx, func(tx *Tx) error {
		tx.HDel(e.keys.SessionInfos(), ssid)
		i := tx.WriteIndex()
		tx.Do("ZREM", e.keys.AllSessions(), ssid)
		tx.AfterResults(func(r []rueidisMessage) {
			n, _ := r[i].AsInt64()
			removed = int(n)
		})
		return nil
	})
	if err != nil {
		return err
	}
	if removed == 0 {
		return e.redisErr("ZREM sessions", e.rdb.Do(ctx, e.rdb.B().Zrem().Key(e.keys.LegacySessions()).Member(ssid).Build()).Error())
	}
	return nil
}

// Sessions returns every registered session, legacy ones included.
func (in Inspector) Sessions(ctx context.Context) ([]*Session, error) {
	e := in.e
	var out []*Session
	for _, src := range []struct {
		key    string
		legacy bool
	}{{e.keys.AllSessions(), false}, {e.keys.LegacySessions(), true}} {
		zs, err := e.rdb.Do(ctx, e.rdb.B().Zrange().Key(src.key).Min("0").Max("-1").Withscores().Build()).AsZScores()
		if err != nil {
			if src.legacy {
				continue
			}
			return nil, e.redisErr("ZRANGE "+src.key, err)
		}
		for _, z := range zs {
			s, err := e.readSession(ctx, z.Member, false)
			if err != nil {
				e.log.Warn(fmt.Sprintf("session %s: %v", z.Member, err))
				continue
			}
			s.Expire = time.Unix(int64(z.Score), 0)
			if src.legacy {
				s.Expire = s.Expire.Add(5 * time.Minute)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Session returns one session; with detail also its sustained inodes and
// locks.
func (in Inspector) Session(ctx context.Context, sid uint64, detail bool) (*Session, error) {
	e := in.e
	ssid := strconv.FormatUint(sid, 10)
	legacy := false
	score, err := e.rdb.Do(ctx, e.rdb.B().Zscore().Key(e.keys.AllSessions()).Member(ssid).Build()).AsFloat64()
	if isNil(err) {
		legacy = true
		score, err = e.rdb.Do(ctx, e.rdb.B().Zscore().Key(e.keys.LegacySessions()).Member(ssid).Build()).AsFloat64()
	}
	if isNil(err) {
		return nil, fmt.Errorf("session not found: %d", sid)
	}
	if err != nil {
		return nil, e.redisErr("ZSCORE", err)
	}
	s, err := e.readSession(ctx, ssid, detail)
	if err != nil {
		return nil, err
	}
	s.Expire = time.Unix(int64(score), 0)
	if legacy {
		s.Expire = s.Expire.Add(5 * time.Minute)
	}
	return s, nil
}

func (e *Engine) readSession(ctx context.Context, ssid string, detail bool) (*Session, error) {
	info, err := e.rdb.Do(ctx, e.rdb.B().Hget().Key(e.keys.SessionInfos()).Field(ssid).Build()).ToString()
	if isNil(err) {
		info = "{}"
	} else if err != nil {
		return nil, e.redisErr("HGET sessionInfos", err)
	}
	var s Session
	if err := json.Unmarshal([]byte(info), &s.SessionInfo); err != nil {
		return nil, corrupt(e.keys.SessionInfos(), fmt.Errorf("session %s info is not valid JSON: %v", ssid, err))
	}
	s.Sid, _ = strconv.ParseUint(ssid, 10, 64)
	if !detail {
		return &s, nil
	}
	inodes, err := e.rdb.Do(ctx, e.rdb.B().Smembers().Key(e.keys.Sustained(s.Sid)).Build()).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("SMEMBERS", err)
	}
	for _, v := range inodes {
		if ino, err := strconv.ParseUint(v, 10, 64); err == nil {
			s.Sustained = append(s.Sustained, Ino(ino))
		}
	}
	sort.Slice(s.Sustained, func(i, j int) bool { return s.Sustained[i] < s.Sustained[j] })
	locks, err := e.rdb.Do(ctx, e.rdb.B().Smembers().Key(e.keys.Locked(s.Sid)).Build()).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("SMEMBERS", err)
	}
	sort.Strings(locks)
	for _, lk := range locks {
		owners, err := e.rdb.Do(ctx, e.rdb.B().Hgetall().Key(lk).Build()).AsStrMap()
		if err != nil {
			return nil, e.redisErr("HGETALL "+lk, err)
		}
		flockIno, isFlock := e.keys.ParseFlockKey(lk)
		plockIno, isPlock := e.keys.ParsePlockKey(lk)
		for k, v := range owners {
			osid, owner, ok := codec.ParseLockOwnerKey(k)
			if !ok || osid != s.Sid {
				continue
			}
			switch {
			case isFlock:
				s.Flocks = append(s.Flocks, Flock{Inode: flockIno, Owner: owner, Ltype: v})
			case isPlock:
				recs, err := codec.UnmarshalPosixLocks([]byte(v))
				if err != nil {
					return nil, corrupt(lk, err)
				}
				s.Plocks = append(s.Plocks, Plock{Inode: plockIno, Owner: owner, Records: recs})
			}
		}
	}
	return &s, nil
}
