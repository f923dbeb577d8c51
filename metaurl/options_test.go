package metaurl

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// base is the Config of "redis://h/1" with every default.
func base(edit func(c *Config)) *Config {
	c := defaultConfig()
	c.Addrs = []string{"h:6379"}
	c.DB = 1
	if edit != nil {
		edit(c)
	}
	return c
}

// checkConfig compares everything but the remembered URL.
func checkConfig(t *testing.T, got, want *Config) {
	t.Helper()
	g, w := *got, *want
	g.redacted, w.redacted = "", ""
	if !reflect.DeepEqual(g, w) {
		t.Errorf("config\n got: %+v\nwant: %+v", g, w)
	}
}

func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n got: %q\nwant: %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	c, w, err := Parse("redis://h/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, w, nil)
	checkConfig(t, c, base(nil))
	if c.ReadTimeout != 30*time.Second || c.WriteTimeout != 5*time.Second ||
		c.MinRetryBackoff != 20*time.Millisecond || c.MaxRetryBackoff != 10*time.Second ||
		c.DialTimeout != 5*time.Second || c.IORetries != 10 || !c.ClientCache ||
		c.ClientCacheSize != 200000 || c.ClientCacheTTL != time.Hour || c.PipelineMultiplex != 0 ||
		c.MaxFlushDelay != 0 || c.RingScale != 0 || c.Protocol != 3 || c.PoolSize != 0 {
		t.Errorf("defaults differ from JuiceFS's and the documented ones: %+v", c)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name     string
		url      string // query appended to redis://h/1 unless it has "://"
		want     *Config
		warnings []string
	}{
		{"jfs durations", "?read-timeout=1s&write-timeout=2s&min-retry-backoff=3ms&max-retry-backoff=4s",
			base(func(c *Config) {
				c.ReadTimeout, c.WriteTimeout, c.MinRetryBackoff, c.MaxRetryBackoff = time.Second, 2*time.Second, 3*time.Millisecond, 4*time.Second
			}), nil},
		{"jfs durations underscore", "?read_timeout=1s&write_timeout=2s&min_retry_backoff=3ms&max_retry_backoff=4s",
			base(func(c *Config) {
				c.ReadTimeout, c.WriteTimeout, c.MinRetryBackoff, c.MaxRetryBackoff = time.Second, 2*time.Second, 3*time.Millisecond, 4*time.Second
			}), nil},
		{"hyphen wins", "?read_timeout=2s&read-timeout=1s", base(func(c *Config) { c.ReadTimeout = time.Second }),
			[]string{`meta URL options "read-timeout" and "read_timeout" are both given; "read_timeout" is ignored`}},
		{"empty hyphen falls back", "?read-timeout=&read_timeout=2s", base(func(c *Config) { c.ReadTimeout = 2 * time.Second }), nil},
		{"zero duration", "?read-timeout=0", base(func(c *Config) { c.ReadTimeout = 0 }), nil},
		{"bare number keeps default", "?read-timeout=5&write_timeout=x", base(nil), []string{
			`meta URL option read-timeout="5" is not a duration with a unit (like "5s" or "500ms"); the default 30s is used, as JuiceFS does`,
			`meta URL option write_timeout="x" is not a duration with a unit (like "5s" or "500ms"); the default 5s is used, as JuiceFS does`,
		}},
		{"negative duration", "?max-retry-backoff=-1s", base(nil), []string{
			`meta URL option max-retry-backoff="-1s" is negative; the default 10s is used`,
		}},
		{"min above max", "?min-retry-backoff=2s&max-retry-backoff=1s",
			base(func(c *Config) { c.MinRetryBackoff, c.MaxRetryBackoff = time.Second, time.Second }),
			[]string{"min-retry-backoff 2s is larger than max-retry-backoff 1s; it is lowered to 1s"}},
		{"route-read replica", "?route-read=replica", base(func(c *Config) { c.RouteRead = RouteReplica }), nil},
		{"route-read random", "?route-read=random", base(func(c *Config) { c.RouteRead = RouteRandom }), nil},
		{"route-read latency", "?route-read=latency", base(func(c *Config) { c.RouteRead = RouteLatency }), nil},
		{"route-read other", "?route-read=primary", base(nil),
			[]string{`meta URL option route-read="primary" is not replica, random or latency; reads go to the primary`}},
		{"route-read sentinel", "redis://m,s:1/1?route-read=latency", base(func(c *Config) {
			c.Mode, c.MasterName, c.Addrs = ModeSentinel, "m", []string{"s:1"}
		}), []string{"meta URL option route-read=latency is not supported with Sentinel (only replica is); reads go to the primary"}},
		{"route-read sentinel replica", "redis://m,s:1/1?route-read=replica", base(func(c *Config) {
			c.Mode, c.MasterName, c.Addrs, c.RouteRead = ModeSentinel, "m", []string{"s:1"}, RouteReplica
		}), nil},
		// TLS.
		{"tls files", "rediss://h/1?tls-cert-file=/c.pem&tls-key-file=/k.pem&tls-ca-cert-file=/ca.pem&tls-server-name=redis.example",
			base(func(c *Config) {
				c.Scheme, c.TLS = "rediss", true
				c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile, c.TLSServerName = "/c.pem", "/k.pem", "/ca.pem", "redis.example"
			}), nil},
		{"skip verify any value", "rediss://h/1?insecure-skip-verify=1", base(func(c *Config) {
			c.Scheme, c.TLS, c.InsecureSkipVerify = "rediss", true, true
		}), []string{InsecureSkipVerifyWarning}},
		{"skip verify odd value", "rediss://h/1?insecure-skip-verify=please", base(func(c *Config) {
			c.Scheme, c.TLS, c.InsecureSkipVerify = "rediss", true, true
		}), []string{InsecureSkipVerifyWarning}},
		{"skip verify false", "rediss://h/1?insecure-skip-verify=false", base(func(c *Config) { c.Scheme, c.TLS = "rediss", true }),
			[]string{`meta URL option insecure-skip-verify="false" keeps certificate verification ON in rueidisfs; JuiceFS 1.4.1 would turn it off for any non-empty value`}},
		{"skip verify OFF", "rediss://h/1?insecure-skip-verify=OFF", base(func(c *Config) { c.Scheme, c.TLS = "rediss", true }),
			[]string{`meta URL option insecure-skip-verify="OFF" keeps certificate verification ON in rueidisfs; JuiceFS 1.4.1 would turn it off for any non-empty value`}},
		{"skip verify empty", "rediss://h/1?insecure-skip-verify=", base(func(c *Config) { c.Scheme, c.TLS = "rediss", true }), nil},
		{"skip_verify", "rediss://h/1?skip_verify=true", base(func(c *Config) {
			c.Scheme, c.TLS, c.InsecureSkipVerify = "rediss", true, true
		}), []string{InsecureSkipVerifyWarning}},
		{"skip_verify false", "rediss://h/1?skip_verify=0", base(func(c *Config) { c.Scheme, c.TLS = "rediss", true }), nil},
		{"both skip verify", "rediss://h/1?skip_verify=true&insecure-skip-verify=no", base(func(c *Config) { c.Scheme, c.TLS = "rediss", true }),
			[]string{
				`meta URL option insecure-skip-verify="no" keeps certificate verification ON in rueidisfs; JuiceFS 1.4.1 would turn it off for any non-empty value`,
				"meta URL option skip_verify is ignored because insecure-skip-verify is given",
			}},
		{"tls options without tls", "?insecure-skip-verify=true&tls-ca-cert-file=/ca&tls-server-name=x&skip_verify=1&tls-cert-file=c",
			base(func(c *Config) {
				c.InsecureSkipVerify, c.TLSCAFile, c.TLSServerName, c.TLSCertFile = true, "/ca", "x", "c"
			}), []string{
				"meta URL option skip_verify is ignored because insecure-skip-verify is given",
				"meta URL option insecure-skip-verify has no effect without TLS; use rediss:// or ruediss://",
				"meta URL option skip_verify has no effect without TLS; use rediss:// or ruediss://",
				"meta URL option tls-cert-file has no effect without TLS; use rediss:// or ruediss://",
				"meta URL option tls-ca-cert-file has no effect without TLS; use rediss:// or ruediss://",
				"meta URL option tls-server-name has no effect without TLS; use rediss:// or ruediss://",
			}},
		// Client-side caching.
		{"cache off", "?client-cache=false", base(func(c *Config) { c.ClientCache = false }), nil},
		{"cache off 0", "?client-cache=0", base(func(c *Config) { c.ClientCache = false }), nil},
		{"cache off Off", "?client-cache=Off", base(func(c *Config) { c.ClientCache = false }), nil},
		{"cache off no", "?client-cache=no", base(func(c *Config) { c.ClientCache = false }), nil},
		{"cache on", "?client-cache=true", base(nil), nil},
		{"cache empty", "?client-cache=", base(nil), nil},
		{"cache odd", "?client-cache=enabled", base(nil),
			[]string{`meta URL option client-cache="enabled" is not true/false, 1/0, on/off or yes/no; it is taken as true, as JuiceFS does`}},
		{"cache knobs", "?client-cache-size=1000&client-cache-ttl=5m&client-cache-preload=100",
			base(func(c *Config) { c.ClientCacheSize, c.ClientCacheTTL, c.ClientCachePreload = 1000, 5*time.Minute, 100 }), nil},
		{"cache expire alias", "?client-cache-expire=2m", base(func(c *Config) { c.ClientCacheTTL = 2 * time.Minute }), nil},
		{"ttl wins over expire", "?client-cache-expire=2m&client-cache-ttl=3m", base(func(c *Config) { c.ClientCacheTTL = 3 * time.Minute }),
			[]string{"meta URL option client-cache-expire is ignored because client-cache-ttl is given"}},
		{"expire bare number", "?client-cache-expire=60", base(nil),
			[]string{`meta URL option client-cache-expire="60" is not a duration with a unit (like "1h"); the default 1h0m0s is used`}},
		{"expire zero", "?client-cache-expire=0s", base(nil),
			[]string{`meta URL option client-cache-expire="0s" is not positive; the default 1h0m0s is used`}},
		{"underscore cache spellings", "?client_cache_size=7&client_cache_expire=1m&client_cache_preload=3",
			base(func(c *Config) { c.ClientCacheSize, c.ClientCacheTTL, c.ClientCachePreload = 7, time.Minute, 3 }),
			[]string{
				`meta URL option "client_cache_size" works in rueidisfs, but JuiceFS 1.4.1 fails on it; write "client-cache-size"`,
				`meta URL option "client_cache_expire" works in rueidisfs, but JuiceFS 1.4.1 fails on it; write "client-cache-expire"`,
				`meta URL option "client_cache_preload" works in rueidisfs, but JuiceFS 1.4.1 fails on it; write "client-cache-preload"`,
			}},
		{"preload bad", "?client-cache-preload=x", base(nil),
			[]string{`meta URL option client-cache-preload="x" is not an integer of 0 or more; no entries are preloaded, as JuiceFS does`}},
		{"preload negative", "?client-cache-preload=-5", base(nil),
			[]string{`meta URL option client-cache-preload="-5" is not an integer of 0 or more; no entries are preloaded, as JuiceFS does`}},
		{"protocol 2 disables cache", "?protocol=2", base(func(c *Config) { c.Protocol, c.ClientCache = 2, false }),
			[]string{"client-side caching needs RESP3 and is turned off because protocol=2"}},
		{"protocol 2 cache off", "?protocol=2&client-cache=false", base(func(c *Config) { c.Protocol, c.ClientCache = 2, false }), nil},
		{"protocol 3", "?protocol=3", base(nil), nil},
		// go-redis options with a rueidis meaning.
		{"db query", "?db=7", base(func(c *Config) { c.DB = 7 }), nil},
		{"client_name", "?client_name=jfs-1", base(func(c *Config) { c.ClientName = "jfs-1" }), nil},
		{"dial_timeout seconds", "?dial_timeout=3", base(func(c *Config) { c.DialTimeout = 3 * time.Second }), nil},
		{"dial_timeout duration", "?dial_timeout=250ms", base(func(c *Config) { c.DialTimeout = 250 * time.Millisecond }), nil},
		{"dial_timeout zero", "?dial_timeout=0", base(nil),
			[]string{`meta URL option dial_timeout="0" cannot disable the dial timeout with rueidis; the default 5s is used`}},
		{"dial_timeout negative", "?dial_timeout=-1s", base(nil),
			[]string{`meta URL option dial_timeout="-1s" cannot disable the dial timeout with rueidis; the default 5s is used`}},
		{"pool_size", "?pool_size=64", base(func(c *Config) { c.PoolSize = 64 }), nil},
		{"conn_max_lifetime", "?conn_max_lifetime=1h", base(func(c *Config) { c.ConnLifetime = time.Hour }), nil},
		{"max_conn_age seconds", "?max_conn_age=60", base(func(c *Config) { c.ConnLifetime = time.Minute }), nil},
		{"conn_max_lifetime disabled", "?conn_max_lifetime=-1", base(nil), nil},
		{"max_retries", "?max_retries=3", base(func(c *Config) { c.IORetries = 3 }), nil},
		{"max_retries -1", "?max_retries=-1", base(func(c *Config) { c.IORetries = 0 }), nil},
		{"io-retries", "?io-retries=0", base(func(c *Config) { c.IORetries = 0 }), nil},
		{"wait-replicas", "?wait-replicas=1&wait-timeout=250ms", base(func(c *Config) { c.WaitReplicas, c.WaitTimeout = 1, 250*time.Millisecond }), nil},
		{"io-retries wins", "?io-retries=4&max_retries=2", base(func(c *Config) { c.IORetries = 4 }),
			[]string{"meta URL option max_retries is ignored because io-retries is given"}},
		// No rueidis meaning.
		{"no effect", "?pool_fifo=true&pool_timeout=1s&min_idle_conns=1&max_idle_conns=2&max_active_conns=3&max_concurrent_dials=4&conn_max_idle_time=1m&idle_timeout=1m&conn_max_lifetime_jitter=1s",
			base(nil), []string{
				`meta URL option "pool_fifo" has no effect with rueidis; it is ignored`,
				`meta URL option "pool_timeout" has no effect with rueidis; it is ignored`,
				`meta URL option "min_idle_conns" has no effect with rueidis; it is ignored`,
				`meta URL option "max_idle_conns" has no effect with rueidis; it is ignored`,
				`meta URL option "max_active_conns" has no effect with rueidis; it is ignored`,
				`meta URL option "max_concurrent_dials" has no effect with rueidis; it is ignored`,
				`meta URL option "conn_max_idle_time" has no effect with rueidis; it is ignored`,
				`meta URL option "idle_timeout" has no effect with rueidis; it is ignored`,
				`meta URL option "conn_max_lifetime_jitter" has no effect with rueidis; it is ignored`,
			}},
		// rueidis knobs.
		{"pipelining", "?pipeline-multiplex=0&max-flush-delay=20us&ring-scale=12",
			base(func(c *Config) { c.PipelineMultiplex, c.MaxFlushDelay, c.RingScale = 0, 20*time.Microsecond, 12 }), nil},
		{"pipeline-multiplex max", "?pipeline-multiplex=8", base(func(c *Config) { c.PipelineMultiplex = 8 }), nil},
		{"pipeline-multiplex rueidis' default", "?pipeline-multiplex=-1", base(func(c *Config) { c.PipelineMultiplex = -1 }), nil},
		{"max-flush-delay zero", "?max-flush-delay=0", base(nil), nil},
		{"direct-when-alone off", "?direct-when-alone=false", base(func(c *Config) { c.DirectWhenAlone = false }), nil},
		{"direct-when-alone on", "?direct-when-alone=1", base(nil), nil},
		{"max-flush-delay large", "?max-flush-delay=5ms", base(func(c *Config) { c.MaxFlushDelay = 5 * time.Millisecond }),
			[]string{"max-flush-delay 5ms delays every command by up to that much; rueidis suggests about 20us"}},
		{"ring-scale small", "?ring-scale=4", base(func(c *Config) { c.RingScale = 4 }),
			[]string{"ring-scale 4 is below 8, which rueidis does not recommend"}},
		// Query syntax.
		{"unknown", "?foo=1&io_retries=3&Read-Timeout=1s", base(nil), []string{
			`unknown meta URL option "foo" is ignored`,
			`unknown meta URL option "io_retries" is ignored; did you mean "io-retries"?`,
			`unknown meta URL option "Read-Timeout" is ignored`,
		}},
		{"unknown hyphen spelling", "?pool-size=3&client_cache=false", base(nil), []string{
			`unknown meta URL option "pool-size" is ignored; did you mean "pool_size"?`,
			`unknown meta URL option "client_cache" is ignored; did you mean "client-cache"?`,
		}},
		{"repeated", "?read-timeout=1s&read-timeout=2s", base(func(c *Config) { c.ReadTimeout = time.Second }),
			[]string{`meta URL option "read-timeout" is given 2 times; only the first value is used`}},
		{"semicolon", "?read-timeout=1s;write-timeout=2s&db=2", base(func(c *Config) { c.DB = 2 }),
			[]string{`meta URL option "read-timeout" is ignored because it contains ';' (JuiceFS drops it too); separate options with '&' and write ';' as %3B`}},
		{"escaped values", "?tls-ca-cert-file=%2Fa+b%3Bc&client_name=x%2By", base(func(c *Config) { c.TLSCAFile, c.ClientName = "/a b;c", "x+y" }),
			[]string{"meta URL option tls-ca-cert-file has no effect without TLS; use rediss:// or ruediss://"}},
		{"empty pieces", "?&&db=2&", base(func(c *Config) { c.DB = 2 }), nil},
		{"key without value", "?client-cache", base(nil), nil},
		{"empty key", "?=3", base(nil), []string{`unknown meta URL option "" is ignored`}},
		{"at sign without user", "redis://u:?x=secret@h/1", base(func(c *Config) { c.Addrs, c.DB = []string{"u:6379"}, 0 }), []string{
			"meta URL has an '@' after the host but no user part before it; if the password contains '/', '?', '#' or '@', percent-encode them as %2F, %3F, %23, %40",
			`unknown meta URL option "x" is ignored`,
		}},
		{"at sign in a value", "?client_name=a@b", base(func(c *Config) { c.ClientName = "a@b" }), []string{
			"meta URL has an '@' after the host but no user part before it; if the password contains '/', '?', '#' or '@', percent-encode them as %2F, %3F, %23, %40",
		}},
		{"at sign in a value with user", "redis://u:p@h/1?client_name=a@b", base(func(c *Config) {
			c.ClientName, c.Username, c.Password, c.PasswordSource = "a@b", "u", "p", "url"
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if len(u) > 0 && u[0] == '?' {
				u = "redis://h/1" + u
			}
			c, w, err := Parse(u, nil)
			if err != nil {
				t.Fatalf("Parse(%q): %v", u, err)
			}
			checkConfig(t, c, tt.want)
			checkWarnings(t, w, tt.warnings)
		})
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct{ query, want string }{
		{"client-cache-size=0", `query option client-cache-size="0" is not an integer greater than 0`},
		{"client-cache-size=x", `query option client-cache-size="x" is not an integer greater than 0`},
		{"client-cache-size=99999999999", `query option client-cache-size="99999999999" is not an integer greater than 0`},
		{"client_cache_size=-1", `query option client_cache_size="-1" is not an integer greater than 0`},
		{"client-cache-ttl=5", `query option client-cache-ttl="5" is not a duration; write it with a unit, like "20us", "5s" or "1h"`},
		{"client-cache-ttl=-1s", `query option client-cache-ttl="-1s" is negative; give a duration of 0 or more`},
		{"client-cache-ttl=0", `query option client-cache-ttl="0" must be greater than 0; turn caching off with client-cache=false instead`},
		{"pipeline-multiplex=9", `query option pipeline-multiplex="9" is not an integer from 0 to 8 (or -1 for the rueidis default)`},
		{"pipeline-multiplex=-2", `query option pipeline-multiplex="-2" is not an integer from 0 to 8 (or -1 for the rueidis default)`},
		{"pipeline-multiplex=x", `query option pipeline-multiplex="x" is not an integer from 0 to 8 (or -1 for the rueidis default)`},
		{"max-flush-delay=10", `query option max-flush-delay="10" is not a duration; write it with a unit, like "20us", "5s" or "1h"`},
		{"max-flush-delay=-1us", `query option max-flush-delay="-1us" is negative; give a duration of 0 or more`},
		{"direct-when-alone=maybe", `query option direct-when-alone="maybe" is not true/false, 1/0, on/off or yes/no`},
		{"ring-scale=17", `query option ring-scale="17" is not an integer from 0 to 16 (0 for the rueidis default)`},
		{"ring-scale=-1", `query option ring-scale="-1" is not an integer from 0 to 16 (0 for the rueidis default)`},
		{"io-retries=-1", `query option io-retries="-1" is not an integer of 0 or more`},
		{"io-retries=many", `query option io-retries="many" is not an integer of 0 or more`},
		{"wait-replicas=-1", `query option wait-replicas="-1" is not an integer of 0 or more`},
		{"wait-timeout=1", `query option wait-timeout="1" is not a duration; write it with a unit, like "20us", "5s" or "1h"`},
		{"wait-timeout=0s", `query option wait-timeout="0s" is zero; give a duration above 0`},
		{"max_retries=-2", `query option max_retries="-2" is not an integer of -1 or more`},
		{"protocol=4", `query option protocol="4" must be 2 or 3`},
		{"protocol=resp3", `query option protocol="resp3" must be 2 or 3`},
		{"client_name=a+b", `query option client_name="a b" contains a space or a special character, which Redis refuses in CLIENT SETNAME`},
		{"client_name=%C3%A9", `query option client_name="é" contains a space or a special character, which Redis refuses in CLIENT SETNAME`},
		{"dial_timeout=soon", `query option dial_timeout="soon" is not a duration (like "5s") or a number of seconds`},
		{"pool_size=-1", `query option pool_size="-1" is not an integer of 0 or more`},
		{"conn_max_lifetime=x", `query option conn_max_lifetime="x" is not a duration (like "30m") or a number of seconds`},
		{"max_conn_age=x", `query option max_conn_age="x" is not a duration (like "30m") or a number of seconds`},
		{"db=-1", `query option db="-1" is not a non-negative integer`},
	}
	for _, tt := range tests {
		u := "redis://h/1?" + tt.query
		_, _, err := Parse(u, nil)
		want := `meta URL "` + u + `": ` + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error\n got: %v\nwant: %s", u, err, want)
		}
	}

	tlsTests := []struct{ url, want string }{
		{"rediss://h/1?tls-cert-file=/c", `meta URL "rediss://h/1?tls-cert-file=/c": query option tls-cert-file needs tls-key-file, the client certificate's private key`},
		{"rediss://h/1?tls-key-file=/k", `meta URL "rediss://h/1?tls-key-file=/k": query option tls-key-file needs tls-cert-file, the client certificate`},
		{"rediss://h/1?skip_verify=yes", `meta URL "rediss://h/1?skip_verify=yes": query option skip_verify="yes" is not true, false, 1 or 0`},
	}
	for _, tt := range tlsTests {
		_, _, err := Parse(tt.url, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error\n got: %v\nwant: %s", tt.url, err, tt.want)
		}
	}
}

func TestGoRedisDurationOverflow(t *testing.T) {
	if _, _, err := Parse("redis://h/1?conn_max_lifetime=9999999999999", nil); err == nil {
		t.Error("a lifetime of 9999999999999 seconds overflows and must be refused")
	}
	c, _, err := Parse("redis://h/1?conn_max_lifetime=9223372036", nil)
	if err != nil || c.ConnLifetime != 9223372036*time.Second {
		t.Errorf("largest lifetime: %v, %v", c, err)
	}
}
