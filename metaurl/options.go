package metaurl

import (
	"strconv"
	"strings"
	"time"
)

// options applies every query option to cfg. Options JuiceFS reads itself
// keep its lenient handling (bad values: warning, default kept), except
// client-cache-size, whose meaning rueidisfs changed; go-redis options that
// go-redis would refuse, and rueidisfs's own options, are errors when their
// value is bad.
func (p *parser) options(cfg *Config, q *query) error {
	cfg.ReadTimeout = p.jfsDuration(q, DefaultReadTimeout, "read-timeout", "read_timeout")
	cfg.WriteTimeout = p.jfsDuration(q, DefaultWriteTimeout, "write-timeout", "write_timeout")
	cfg.MinRetryBackoff = p.jfsDuration(q, DefaultMinRetryBackoff, "min-retry-backoff", "min_retry_backoff")
	cfg.MaxRetryBackoff = p.jfsDuration(q, DefaultMaxRetryBackoff, "max-retry-backoff", "max_retry_backoff")
	p.routeRead(cfg, q)
	for _, step := range []func(*Config, *query) error{
		p.tlsOptions, p.cacheOptions, p.goRedisOptions, p.retryOptions, p.pipelineOptions,
	} {
		if err := step(cfg, q); err != nil {
			return err
		}
	}
	p.leftovers(q)
	return nil
}

func (p *parser) routeRead(cfg *Config, q *query) {
	_, v, ok := p.take(q, "route-read")
	if !ok {
		return
	}
	switch r := RouteRead(v); r {
	case RouteReplica, RouteRandom, RouteLatency:
		cfg.RouteRead = r
	default:
		p.warnf("meta URL option route-read=%q is not replica, random or latency; reads go to the primary", v)
	}
}

// InsecureSkipVerifyWarning is the warning of a meta URL that turns
// certificate verification off.
const InsecureSkipVerifyWarning = "meta URL option insecure-skip-verify turns TLS certificate verification OFF (insecure): " +
	"anyone on the network path can pose as the server and read the password and the metadata; give tls-ca-cert-file instead"

// tlsOptions reads insecure-skip-verify, skip_verify and the tls-* files.
func (p *parser) tlsOptions(cfg *Config, q *query) error {
	_, skip, hasSkip := p.take(q, "insecure-skip-verify")
	_, sv, hasSV := p.take(q, "skip_verify")
	switch {
	case hasSkip:
		// JuiceFS turns verification off for any non-empty value, even
		// "false"; rueidisfs does not copy that quirk.
		if on, ok := parseBoolWord(skip); ok && !on {
			p.warnf("meta URL option insecure-skip-verify=%q keeps certificate verification ON in rueidisfs; JuiceFS 1.4.1 would turn it off for any non-empty value", skip)
		} else {
			cfg.InsecureSkipVerify = true
		}
		if hasSV {
			p.warnf("meta URL option skip_verify is ignored because insecure-skip-verify is given")
		}
	case hasSV:
		switch sv {
		case "true", "1":
			cfg.InsecureSkipVerify = true
		case "false", "0":
		default:
			return p.errorf("query option skip_verify=%q is not true, false, 1 or 0", sv)
		}
	}
	if cfg.InsecureSkipVerify && cfg.TLS {
		p.warnf("%s", InsecureSkipVerifyWarning)
	}
	_, cfg.TLSCertFile, _ = p.take(q, "tls-cert-file")
	_, cfg.TLSKeyFile, _ = p.take(q, "tls-key-file")
	_, cfg.TLSCAFile, _ = p.take(q, "tls-ca-cert-file")
	_, cfg.TLSServerName, _ = p.take(q, "tls-server-name")
	if !cfg.TLS {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"insecure-skip-verify", hasSkip}, {"skip_verify", hasSV},
			{"tls-cert-file", cfg.TLSCertFile != ""}, {"tls-key-file", cfg.TLSKeyFile != ""},
			{"tls-ca-cert-file", cfg.TLSCAFile != ""}, {"tls-server-name", cfg.TLSServerName != ""},
		} {
			if o.set {
				p.warnf("meta URL option %s has no effect without TLS; use rediss:// or ruediss://", o.name)
			}
		}
		return nil
	}
	if cfg.TLSCertFile != "" && cfg.TLSKeyFile == "" {
		return p.errorf("query option tls-cert-file needs tls-key-file, the client certificate's private key")
	}
	if cfg.TLSKeyFile != "" && cfg.TLSCertFile == "" {
		return p.errorf("query option tls-key-file needs tls-cert-file, the client certificate")
	}
	return nil
}

// cacheOptions reads the client-side caching options.
func (p *parser) cacheOptions(cfg *Config, q *query) error {
	if _, v, ok := p.take(q, "client-cache"); ok {
		on, valid := parseBoolWord(v)
		if !valid {
			p.warnf("meta URL option client-cache=%q is not true/false, 1/0, on/off or yes/no; it is taken as true, as JuiceFS does", v)
			on = true
		}
		cfg.ClientCache = on
	}
	if name, v, ok := p.take(q, "client-cache-size", "client_cache_size"); ok {
		p.underscoreCacheSpelling(name)
		n, err := p.intOption(name, v, 1, maxInt32, "an integer greater than 0")
		if err != nil {
			return err
		}
		cfg.ClientCacheSize = n
	}
	_, ttl, hasTTL := p.take(q, "client-cache-ttl")
	if hasTTL {
		d, err := p.ownDuration("client-cache-ttl", ttl)
		if err != nil {
			return err
		}
		if d == 0 {
			return p.errorf("query option client-cache-ttl=%q must be greater than 0; turn caching off with client-cache=false instead", ttl)
		}
		cfg.ClientCacheTTL = d
	}
	if name, v, ok := p.take(q, "client-cache-expire", "client_cache_expire"); ok {
		p.underscoreCacheSpelling(name)
		d, err := time.ParseDuration(v)
		switch {
		case hasTTL:
			p.warnf("meta URL option %s is ignored because client-cache-ttl is given", name)
		case err != nil:
			p.warnf("meta URL option %s=%q is not a duration with a unit (like \"1h\"); the default %s is used", name, v, DefaultClientCacheTTL)
		case d <= 0:
			p.warnf("meta URL option %s=%q is not positive; the default %s is used", name, v, DefaultClientCacheTTL)
		default:
			cfg.ClientCacheTTL = d
		}
	}
	if name, v, ok := p.take(q, "client-cache-preload", "client_cache_preload"); ok {
		p.underscoreCacheSpelling(name)
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			p.warnf("meta URL option %s=%q is not an integer of 0 or more; no entries are preloaded, as JuiceFS does", name, v)
		} else {
			cfg.ClientCachePreload = int(n)
		}
	}
	return nil
}

const maxInt32 = 1<<31 - 1

// underscoreCacheSpelling warns about the client_cache_* spellings, which
// JuiceFS 1.4.1 reads but then hands to go-redis, which rejects them.
func (p *parser) underscoreCacheSpelling(name string) {
	if strings.Contains(name, "_") {
		p.warnf("meta URL option %q works in rueidisfs, but JuiceFS 1.4.1 fails on it; write %q", name, swapSeparators(name))
	}
}

// goRedisOptions reads the go-redis options that mean something to rueidis.
func (p *parser) goRedisOptions(cfg *Config, q *query) error {
	if _, v, ok := p.take(q, "db"); ok {
		db, valid := parseDB(v)
		if !valid {
			return p.errorf("query option db=%q is not a non-negative integer", v)
		}
		cfg.DB = db
	}
	if _, v, ok := p.take(q, "protocol"); ok {
		if v != "2" && v != "3" {
			return p.errorf("query option protocol=%q must be 2 or 3", v)
		}
		cfg.Protocol = int(v[0] - '0')
	}
	if _, v, ok := p.take(q, "client_name"); ok {
		if strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			return p.errorf("query option client_name=%q contains a space or a special character, which Redis refuses in CLIENT SETNAME", v)
		}
		cfg.ClientName = v
	}
	if _, v, ok := p.take(q, "dial_timeout"); ok {
		d, valid := goRedisDuration(v)
		switch {
		case !valid:
			return p.errorf("query option dial_timeout=%q is not a duration (like \"5s\") or a number of seconds", v)
		case d == 0:
			p.warnf("meta URL option dial_timeout=%q cannot disable the dial timeout with rueidis; the default %s is used", v, DefaultDialTimeout)
		default:
			cfg.DialTimeout = d
		}
	}
	if _, v, ok := p.take(q, "pool_size"); ok {
		n, err := p.intOption("pool_size", v, 0, maxInt32, "an integer of 0 or more")
		if err != nil {
			return err
		}
		cfg.PoolSize = n
	}
	if name, v, ok := p.take(q, "conn_max_lifetime", "max_conn_age"); ok {
		d, valid := goRedisDuration(v)
		if !valid {
			return p.errorf("query option %s=%q is not a duration (like \"30m\") or a number of seconds", name, v)
		}
		cfg.ConnLifetime = d
	}
	return nil
}

// retryOptions reads io-retries and its go-redis spelling max_retries, and
// wait-replicas and wait-timeout.
func (p *parser) retryOptions(cfg *Config, q *query) error {
	_, v, hasIO := p.take(q, "io-retries")
	if hasIO {
		n, err := p.intOption("io-retries", v, 0, maxInt32, "an integer of 0 or more")
		if err != nil {
			return err
		}
		cfg.IORetries = n
	}
	_, mr, hasMR := p.take(q, "max_retries")
	switch {
	case !hasMR:
	case hasIO:
		p.warnf("meta URL option max_retries is ignored because io-retries is given")
	default:
		// go-redis: -1 disables retries.
		n, err := p.intOption("max_retries", mr, -1, maxInt32, "an integer of -1 or more")
		if err != nil {
			return err
		}
		cfg.IORetries = max(n, 0)
	}
	if _, v, ok := p.take(q, "wait-replicas"); ok {
		n, err := p.intOption("wait-replicas", v, 0, maxInt32, "an integer of 0 or more")
		if err != nil {
			return err
		}
		cfg.WaitReplicas = n
	}
	if _, v, ok := p.take(q, "wait-timeout"); ok {
		d, err := p.ownDuration("wait-timeout", v)
		if err != nil {
			return err
		}
		if d == 0 {
			return p.errorf("query option wait-timeout=%q is zero; give a duration above 0", v)
		}
		cfg.WaitTimeout = d
	}
	return nil
}

// pipelineOptions reads the rueidis pipelining knobs.
func (p *parser) pipelineOptions(cfg *Config, q *query) error {
	if _, v, ok := p.take(q, "pipeline-multiplex"); ok {
		n, err := p.intOption("pipeline-multiplex", v, -1, MaxPipelineMultiplex,
			"an integer from 0 to 8 (or -1 for the rueidis default)")
		if err != nil {
			return err
		}
		cfg.PipelineMultiplex = n
	}
	if _, v, ok := p.take(q, "max-flush-delay"); ok {
		d, err := p.ownDuration("max-flush-delay", v)
		if err != nil {
			return err
		}
		cfg.MaxFlushDelay = d
	}
	if _, v, ok := p.take(q, "ring-scale"); ok {
		n, err := p.intOption("ring-scale", v, 0, MaxRingScale, "an integer from 0 to 16 (0 for the rueidis default)")
		if err != nil {
			return err
		}
		cfg.RingScale = n
	}
	if _, v, ok := p.take(q, "direct-when-alone"); ok {
		on, valid := parseBoolWord(v)
		if !valid {
			return p.errorf("query option direct-when-alone=%q is not true/false, 1/0, on/off or yes/no", v)
		}
		cfg.DirectWhenAlone = on
	}
	return nil
}

// reconcile warns about combinations that cannot work as written, once the
// URL and the environment have both been applied.
func (p *parser) reconcile(cfg *Config) {
	if cfg.ClientCache && cfg.Protocol == 2 {
		cfg.ClientCache = false
		p.warnf("client-side caching needs RESP3 and is turned off because protocol=2")
	}
	if cfg.Mode == ModeSentinel && (cfg.RouteRead == RouteRandom || cfg.RouteRead == RouteLatency) {
		p.warnf("meta URL option route-read=%s is not supported with Sentinel (only replica is); reads go to the primary", cfg.RouteRead)
		cfg.RouteRead = RoutePrimary
	}
	if cfg.MinRetryBackoff > cfg.MaxRetryBackoff {
		p.warnf("min-retry-backoff %s is larger than max-retry-backoff %s; it is lowered to %s", cfg.MinRetryBackoff, cfg.MaxRetryBackoff, cfg.MaxRetryBackoff)
		cfg.MinRetryBackoff = cfg.MaxRetryBackoff
	}
	if cfg.MaxFlushDelay > time.Millisecond {
		p.warnf("max-flush-delay %s delays every command by up to that much; rueidis suggests about 20us", cfg.MaxFlushDelay)
	}
	if cfg.RingScale > 0 && cfg.RingScale < 8 {
		p.warnf("ring-scale %d is below 8, which rueidis does not recommend", cfg.RingScale)
	}
}
