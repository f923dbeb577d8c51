package meta

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// ACL rules live in the acl hash, keyed by a numeric id that inode
// attributes reference. Rules are immutable and never deleted, so every
// client may cache them forever; identical rules share an id when the client
// storing them knows it (different clients may create duplicates, which is
// harmless).
type aclStore struct {
	mu    sync.RWMutex
	rules map[uint32]*codec.ACLRule
	maxID uint32
}

func (s *aclStore) get(id uint32) *codec.ACLRule {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rules[id]
}

func (s *aclStore) put(id uint32, r *codec.ACLRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rules == nil {
		s.rules = make(map[uint32]*codec.ACLRule)
	}
	s.rules[id] = r
	if id > s.maxID {
		s.maxID = id
	}
}

func (s *aclStore) find(r *codec.ACLRule) uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, c := range s.rules {
		if c.Equal(*r) {
			return id
		}
	}
	return 0
}

func (s *aclStore) missing() []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []uint32
	for id := uint32(1); id <= s.maxID; id++ {
		if s.rules[id] == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// loadACLs caches every rule of a volume with ACLs enabled.
func (e *Engine) loadACLs(ctx context.Context) error {
	if f := e.format.Load(); f == nil || !f.EnableACL {
		return nil
	}
	m, err := e.rdb.Do(ctx, e.rdb.B().Hgetall().Key(e.keys.ACL()).Build()).AsStrMap()
	if err != nil {
		return e.redisErr("HGETALL "+e.keys.ACL(), err)
	}
	for field, v := range m {
		id, err := strconv.ParseUint(field, 10, 32)
		if err != nil {
			continue
		}
		r, err := codec.UnmarshalACLRule(v)
		if err != nil {
			return codec.CorruptField(e.keys.ACL(), field, err)
		}
		e.acls.put(uint32(id), &r)
	}
	return nil
}

// aclRule returns rule id, from the local cache or Redis.
func (e *Engine) aclRule(ctx context.Context, id uint32) (*codec.ACLRule, error) {
	if r := e.acls.get(id); r != nil {
		return r, nil
	}
	field := strconv.FormatUint(uint64(id), 10)
	v, err := e.rdb.Do(ctx, e.rdb.B().Hget().Key(e.keys.ACL()).Field(field).Build()).ToString()
	if err != nil {
		if isNil(err) {
			return nil, codec.CorruptField(e.keys.ACL(), field, fmt.Errorf("ACL rule %d referenced by an inode does not exist", id))
		}
		return nil, e.redisErr("HGET acl", err)
	}
	r, err := codec.UnmarshalACLRule(v)
	if err != nil {
		return nil, codec.CorruptField(e.keys.ACL(), field, err)
	}
	e.acls.put(id, &r)
	return &r, nil
}

// storeACLRule returns the id of rule r, storing it under a new id when this
// client knows no identical rule. It first loads rules it has not seen below
// the highest id it knows, so that duplicates stay rare.
func (e *Engine) storeACLRule(ctx context.Context, r *codec.ACLRule) (uint32, error) {
	if e.readOnly() {
		return 0, syscall.EROFS
	}
	if ids := e.acls.missing(); len(ids) > 0 {
		fields := make([]string, len(ids))
		for i, id := range ids {
			fields[i] = strconv.FormatUint(uint64(id), 10)
		}
		vals, err := e.rdb.Do(ctx, e.rdb.B().Hmget().Key(e.keys.ACL()).Field(fields...).Build()).ToArray()
		if err != nil {
			return 0, e.redisErr("HMGET acl", err)
		}
		for i, v := range vals {
			s, err := v.ToString()
			if err != nil {
				continue
			}
			rule, err := codec.UnmarshalACLRule(s)
			if err != nil {
				return 0, codec.CorruptField(e.keys.ACL(), fields[i], err)
			}
			e.acls.put(ids[i], &rule)
		}
	}
	if id := e.acls.find(r); id != 0 {
		return id, nil
	}
	n, err := e.rdb.Do(ctx, e.rdb.B().Incr().Key(e.keys.ACLMaxID()).Build()).AsInt64()
	if err != nil {
		return 0, e.redisErr("INCR "+e.keys.ACLMaxID(), err)
	}
	id := uint32(n)
	if err := e.rdb.Do(ctx, e.rdb.B().Hsetnx().Key(e.keys.ACL()).Field(strconv.FormatUint(uint64(id), 10)).Value(string(r.Marshal())).Build()).Error(); err != nil {
		return 0, e.redisErr("HSETNX acl", err)
	}
	stored := *r
	e.acls.put(id, &stored)
	return id, nil
}

// aclMode is the permission bits an ACL rule implies: owner, mask (group for
// a minimal rule) and other.
func aclMode(r *codec.ACLRule) uint16 {
	g := r.Mask
	if r.IsMinimal() {
		g = r.Group
	}
	return (r.Owner&7)<<6 | (g&7)<<3 | r.Other&7
}

// setACLMode makes a rule agree with new permission bits: owner, mask (group
// for a minimal rule) and other take the mode's classes.
func setACLMode(r *codec.ACLRule, mode uint16) {
	r.Owner = r.Owner&^7 | (mode>>6)&7
	if r.IsMinimal() {
		r.Group = r.Group&^7 | (mode>>3)&7
	} else {
		r.Mask = r.Mask&^7 | (mode>>3)&7
	}
	r.Other = r.Other&^7 | mode&7
}

// childAccessRule derives the access ACL of a node created under a default
// ACL with the requested mode: owner, mask and other are limited by the
// requested classes; the group and named entries are inherited.
func childAccessRule(def *codec.ACLRule, mode uint16) codec.ACLRule {
	return codec.ACLRule{
		Owner:       (mode >> 6) & 7 & def.Owner,
		Mask:        (mode >> 3) & 7 & def.Mask,
		Other:       mode & 7 & def.Other,
		Group:       def.Group,
		NamedUsers:  def.NamedUsers,
		NamedGroups: def.NamedGroups,
	}
}
