package metaurl

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// query holds the decoded query options of a meta URL and which of them
// have been consumed.
type query struct {
	keys   []string // in order of first appearance, for stable warnings
	values map[string][]string
	used   map[string]bool
}

// parseQuery decodes the query like Go's url.ParseQuery, which JuiceFS uses,
// except that what it would drop silently is reported.
func (p *parser) parseQuery(raw string) (*query, error) {
	q := &query{values: map[string][]string{}, used: map[string]bool{}}
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(piece, "=")
		if strings.Contains(piece, ";") {
			p.warnf("meta URL option %q is ignored because it contains ';' (JuiceFS drops it too); separate options with '&' and write ';' as %%3B", rawKey)
			continue
		}
		if strings.Contains(rawKey, "@") {
			// No option name has an '@': this is the end of a password
			// whose '?' was not escaped. Do not echo it.
			return nil, p.errorf("a query option name contains '@'%s", encodingHint)
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, p.errorf("bad percent-encoding in the query option name %q; write '%%' as %%25", rawKey)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, p.errorf("bad percent-encoding in the value of query option %q; write '%%' as %%25", key)
		}
		if _, seen := q.values[key]; !seen {
			q.keys = append(q.keys, key)
		}
		q.values[key] = append(q.values[key], value)
	}
	for _, k := range q.keys {
		if n := len(q.values[k]); n > 1 {
			p.warnf("meta URL option %q is given %d times; only the first value is used", k, n)
		}
	}
	return q, nil
}

// take consumes an option given under any of names (its spelling, then its
// aliases) and returns the first of them that has a non-empty value; as in
// JuiceFS and go-redis, an empty value counts as not given.
func (p *parser) take(q *query, names ...string) (name, value string, ok bool) {
	for _, n := range names {
		q.used[n] = true
		vs := q.values[n]
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		if ok {
			p.warnf("meta URL options %q and %q are both given; %q is ignored", name, n, n)
			continue
		}
		name, value, ok = n, vs[0], true
	}
	return name, value, ok
}

// noEffectOptions returns the go-redis options JuiceFS passes through that
// have no counterpart in rueidis.
func noEffectOptions() []string {
	return []string{
		"pool_fifo", "pool_timeout", "min_idle_conns", "max_idle_conns", "max_active_conns",
		"max_concurrent_dials", "conn_max_idle_time", "idle_timeout", "conn_max_lifetime_jitter",
	}
}

// isKnownOption reports whether Parse consumes the option name.
func isKnownOption(name string) bool {
	switch name {
	case "read-timeout", "read_timeout", "write-timeout", "write_timeout",
		"min-retry-backoff", "min_retry_backoff", "max-retry-backoff", "max_retry_backoff",
		"route-read", "insecure-skip-verify", "skip_verify",
		"tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-server-name",
		"client-cache", "client-cache-size", "client_cache_size", "client-cache-ttl",
		"client-cache-expire", "client_cache_expire", "client-cache-preload", "client_cache_preload",
		"db", "protocol", "client_name", "max_retries", "dial_timeout", "pool_size",
		"conn_max_lifetime", "max_conn_age",
		"io-retries", "pipeline-multiplex", "max-flush-delay", "ring-scale", "direct-when-alone":
		return true
	}
	return slices.Contains(noEffectOptions(), name)
}

// leftovers warns about the options nobody consumed.
func (p *parser) leftovers(q *query) {
	for _, n := range noEffectOptions() {
		if _, ok := q.values[n]; ok {
			q.used[n] = true
			p.warnf("meta URL option %q has no effect with rueidis; it is ignored", n)
		}
	}
	for _, k := range q.keys {
		if q.used[k] {
			continue
		}
		hint := ""
		if alt := swapSeparators(k); alt != k && isKnownOption(alt) {
			hint = "; did you mean " + strconv.Quote(alt) + "?"
		}
		p.warnf("unknown meta URL option %q is ignored%s", k, hint)
	}
}

// swapSeparators turns '-' into '_' and the other way round.
func swapSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-':
			return '_'
		case '_':
			return '-'
		}
		return r
	}, s)
}

// jfsDuration reads a duration the way JuiceFS does: it needs a unit, and an
// unreadable value keeps the default with a warning. Negative values, which
// JuiceFS would pass on to the client library, are treated the same way.
func (p *parser) jfsDuration(q *query, def time.Duration, names ...string) time.Duration {
	name, v, ok := p.take(q, names...)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.warnf("meta URL option %s=%q is not a duration with a unit (like \"5s\" or \"500ms\"); the default %s is used, as JuiceFS does", name, v, def)
		return def
	}
	if d < 0 {
		p.warnf("meta URL option %s=%q is negative; the default %s is used", name, v, def)
		return def
	}
	return d
}

// ownDuration reads a duration option of rueidisfs: a unit is required and
// negative values are refused.
func (p *parser) ownDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, p.errorf("query option %s=%q is not a duration; write it with a unit, like \"20us\", \"5s\" or \"1h\"", name, v)
	}
	if d < 0 {
		return 0, p.errorf("query option %s=%q is negative; give a duration of 0 or more", name, v)
	}
	return d, nil
}

// goRedisDuration reads a duration the way go-redis does: a bare integer is
// a number of seconds, and 0 or less means "disabled" (returned as 0).
func goRedisDuration(v string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n <= 0:
			return 0, true
		case n > int64(math.MaxInt64/time.Second):
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false
	}
	return max(d, 0), true
}

// parseBoolWord reads true/false, 1/0, on/off and yes/no, in any case.
func parseBoolWord(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "true", "1", "on", "yes":
		return true, true
	case "false", "0", "off", "no":
		return false, true
	}
	return false, false
}

// intOption reads a decimal integer within [lo, hi].
func (p *parser) intOption(name, v string, lo, hi int, want string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, p.errorf("query option %s=%q is not %s", name, v, want)
	}
	return n, nil
}
