package meta

import (
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// overlay remembers, for a short time, the values this client itself just
// wrote. Redis does not track them for us (our write ended the tracking of
// those keys), so they are never returned to readers; transactions may use
// them as a guess of the current value, which their commit check verifies.
// This turns "mkdir; mkdir" in one directory into one round trip each instead
// of re-reading the parent every time. It also holds what lookups that
// missed the cache just read (see hint).
type overlay struct {
	ttl time.Duration
	max int

	mu   sync.Mutex
	base time.Time // origin of the values' times (monotonic)
	// stamp is the time (since base) of the values being put: read once
	// per commit or hint, the clock costing a few hundred nanoseconds here.
	stamp time.Duration
	keys  map[string]overlayKey
	n     int // values and fields held
}

// overlayKey is what the overlay knows of one key: its string value, or
// some of its hash fields.
type overlayKey struct {
	value    overlayValue
	hasValue bool
	fields   map[string]overlayValue
}

type overlayValue struct {
	value   string
	present bool
	at      time.Duration // since base
}

// overlayable reports whether transactions read key, so that remembering
// what we wrote to it can save them a read: attributes (i{ino}) and
// directory entries (d{ino}). Counters and statistics hashes are only ever
// written blindly.
func (e *Engine) overlayable(key string) bool {
	rest := key[len(e.keys.Prefix()):]
	return len(rest) > 1 && (rest[0] == 'i' || rest[0] == 'd') && rest[1] >= '0' && rest[1] <= '9'
}

func newOverlay(max int, ttl time.Duration) *overlay {
	return &overlay{ttl: ttl, max: max, base: time.Now(), keys: make(map[string]overlayKey)}
}

func (o *overlay) get(key, field string) (string, bool, bool) {
	if o == nil || o.max <= 0 {
		return "", false, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	k, ok := o.keys[key]
	if !ok {
		return "", false, false
	}
	v, ok := k.value, k.hasValue
	if field != "" {
		v, ok = k.fields[field]
	}
	if !ok {
		return "", false, false
	}
	if time.Since(o.base)-v.at > o.ttl {
		if field == "" {
			k.value, k.hasValue = overlayValue{}, false
			o.keys[key] = k
		} else {
			delete(k.fields, field)
		}
		o.n--
		return "", false, false
	}
	return v.value, v.present, true
}

// record remembers what the writes of a committed transaction left in the
// keys transactions read (see overlayable), given the script's results.
func (o *overlay) record(e *Engine, writes []write, results []rueidis.RedisMessage) {
	if o == nil || o.max <= 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stamp = time.Since(o.base)
	for i, w := range writes {
		if !e.overlayable(w.key) {
			continue
		}
		switch w.cmd {
		case "SET":
			o.putLocked(w.key, "", overlayValue{value: w.args[0], present: true})
		case "DEL":
			o.forgetLocked(w.key)
			o.putLocked(w.key, "", overlayValue{})
		case "HSET":
			for j := 0; j+1 < len(w.args); j += 2 {
				o.putLocked(w.key, w.args[j], overlayValue{value: w.args[j+1], present: true})
			}
		case "HDEL":
			for _, f := range w.args {
				o.putLocked(w.key, f, overlayValue{})
			}
		case cmdDirPatch:
			if v, err := results[i].ToString(); err == nil {
				o.putLocked(w.key, "", overlayValue{value: v, present: true})
			} else {
				o.forgetLocked(w.key)
			}
		default:
			o.forgetLocked(w.key)
		}
	}
}

// hint remembers what a lookup just read from Redis of a name and its
// node: the entry value of field name in dkey and the attribute at ikey.
// Transactions take them as guesses like our own writes (their commit
// checks them; a guess that is outdated costs a conflict reply, which
// carries the current values).
func (o *overlay) hint(dkey, name, entry, ikey, attr string) {
	if o == nil || o.max <= 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stamp = time.Since(o.base)
	o.putLocked(dkey, name, overlayValue{value: entry, present: true})
	o.putLocked(ikey, "", overlayValue{value: attr, present: true})
}

// putLocked remembers v as the value of (key, field) at o.stamp; o.mu is
// held.
func (o *overlay) putLocked(key, field string, v overlayValue) {
	if o.n >= o.max {
		// A guess cache needs no careful eviction: start over, in the
		// same map (growing a new one again cost a create some 270 bytes
		// of garbage).
		clear(o.keys)
		o.n = 0
	}
	v.at = o.stamp
	k := o.keys[key]
	switch {
	case field == "":
		if !k.hasValue {
			o.n++
		}
		k.value, k.hasValue = v, true
	case k.fields == nil:
		k.fields = map[string]overlayValue{field: v}
		o.n++
	default:
		// The key's entry shares k.fields: a field of a known hash costs
		// two map operations (the key's and the field's), not four.
		n := len(k.fields)
		k.fields[field] = v
		o.n += len(k.fields) - n
		return
	}
	o.keys[key] = k
}

// forgetKey drops everything known about key (all its hash fields).
func (o *overlay) forgetKey(key string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.forgetLocked(key)
	o.mu.Unlock()
}

func (o *overlay) forgetLocked(key string) {
	if k, ok := o.keys[key]; ok {
		o.n -= len(k.fields) + b2i(k.hasValue)
		delete(o.keys, key)
	}
}

func (o *overlay) clear() {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.keys = make(map[string]overlayKey)
	o.n = 0
	o.mu.Unlock()
}

func (o *overlay) forget(keys ...string) {
	for _, k := range keys {
		o.forgetKey(k)
	}
}
