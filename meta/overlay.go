package meta

import (
	"sync"
	"time"
)

// overlay remembers, for a short time, the values this client itself just
// wrote. Redis does not track them for us (our write ended the tracking of
// those keys), so they are never returned to readers; transactions may use
// them as a guess of the current value, which their commit check verifies.
// This turns "mkdir; mkdir" in one directory into one round trip each instead
// of re-reading the parent every time.
type overlay struct {
	ttl time.Duration
	max int

	mu   sync.Mutex
	keys map[string]map[string]overlayValue // key → field ("" for strings) → value
	n    int
}

type overlayValue struct {
	value   string
	present bool
	at      time.Time
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
	return &overlay{ttl: ttl, max: max, keys: make(map[string]map[string]overlayValue)}
}

func (o *overlay) get(key, field string) (string, bool, bool) {
	if o == nil || o.max <= 0 {
		return "", false, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.keys[key][field]
	if !ok {
		return "", false, false
	}
	if time.Since(v.at) > o.ttl {
		delete(o.keys[key], field)
		o.n--
		return "", false, false
	}
	return v.value, v.present, true
}

func (o *overlay) put(key, field string, v overlayValue) {
	if o == nil || o.max <= 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n >= o.max {
		// A guess cache needs no careful eviction: start over.
		o.keys = make(map[string]map[string]overlayValue)
		o.n = 0
	}
	m := o.keys[key]
	if m == nil {
		m = make(map[string]overlayValue)
		o.keys[key] = m
	}
	if _, ok := m[field]; !ok {
		o.n++
	}
	m[field] = v
}

func (o *overlay) setValue(key, field, value string) {
	o.put(key, field, overlayValue{value: value, present: true, at: time.Now()})
}

func (o *overlay) setAbsent(key, field string) {
	o.put(key, field, overlayValue{at: time.Now()})
}

// forgetKey drops everything known about key (all its hash fields).
func (o *overlay) forgetKey(key string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.n -= len(o.keys[key])
	delete(o.keys, key)
	o.mu.Unlock()
}

func (o *overlay) clear() {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.keys = make(map[string]map[string]overlayValue)
	o.n = 0
	o.mu.Unlock()
}

func (o *overlay) forget(keys ...string) {
	for _, k := range keys {
		o.forgetKey(k)
	}
}
