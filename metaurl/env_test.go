package metaurl

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPasswordFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"REDIS_PASSWORD": "redis-pw", "META_PASSWORD": "meta-pw", "META_PASSWORD_FILE": file}
	tests := []struct {
		name, url    string
		env          map[string]string
		pass, source string
	}{
		{"url wins", "redis://:url-pw@h/1", all, "url-pw", "url"},
		{"REDIS_PASSWORD first", "redis://h/1", all, "redis-pw", "REDIS_PASSWORD"},
		{"empty url password", "redis://u:@h/1", all, "redis-pw", "REDIS_PASSWORD"},
		{"META_PASSWORD second", "redis://h/1", map[string]string{"META_PASSWORD": "meta-pw", "META_PASSWORD_FILE": file}, "meta-pw", "META_PASSWORD"},
		{"file third", "redis://h/1", map[string]string{"META_PASSWORD_FILE": file}, "from-file", "META_PASSWORD_FILE"},
		{"empty file", "redis://h/1", map[string]string{"META_PASSWORD_FILE": empty}, "", ""},
		{"unix too", "unix:///s", map[string]string{"META_PASSWORD": "meta-pw"}, "meta-pw", "META_PASSWORD"},
		{"none", "redis://h/1", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse(tt.url, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Password != tt.pass || c.PasswordSource != tt.source {
				t.Errorf("password %q from %q, want %q from %q", c.Password, c.PasswordSource, tt.pass, tt.source)
			}
		})
	}

	missing := filepath.Join(dir, "missing")
	_, _, err := Parse("redis://h/1", env(map[string]string{"META_PASSWORD_FILE": missing}))
	want := `meta URL "redis://h/1": cannot read the password file named by META_PASSWORD_FILE: open ` + missing +
		`: no such file or directory; fix the path or unset META_PASSWORD_FILE`
	if err == nil || err.Error() != want {
		t.Errorf("missing password file: error\n got: %v\nwant: %s", err, want)
	}
	// The file is not read when a password is already known.
	if _, _, err := Parse("redis://:pw@h/1", env(map[string]string{"META_PASSWORD_FILE": missing})); err != nil {
		t.Errorf("password file read although the URL has a password: %v", err)
	}
}

func TestSentinelCredentials(t *testing.T) {
	e := env(map[string]string{"SENTINEL_PASSWORD": "spw", "SENTINEL_USERNAME": "suser", "REDIS_PASSWORD": "rpw"})
	c, _, err := Parse("redis://u@m,s1,s2:26379/1", e)
	if err != nil {
		t.Fatal(err)
	}
	if c.SentinelPassword != "spw" || c.SentinelUsername != "suser" || c.Username != "u" || c.Password != "rpw" {
		t.Errorf("sentinel credentials: %+v", c)
	}
	c, _, err = Parse("redis://h/1", e)
	if err != nil {
		t.Fatal(err)
	}
	if c.SentinelPassword != "" || c.SentinelUsername != "" {
		t.Errorf("sentinel credentials outside Sentinel mode: %q %q", c.SentinelUsername, c.SentinelPassword)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	tests := []struct {
		name, query string
		env         map[string]string
		want        *Config
		warnings    []string
	}{
		{"kill switch 0", "", map[string]string{"RUEIDISFS_CLIENT_CACHE": "0"}, base(func(c *Config) { c.ClientCache = false }), nil},
		{"kill switch false", "?client-cache=true", map[string]string{"RUEIDISFS_CLIENT_CACHE": "false"}, base(func(c *Config) { c.ClientCache = false }), nil},
		{"kill switch off", "", map[string]string{"RUEIDISFS_CLIENT_CACHE": "OFF"}, base(func(c *Config) { c.ClientCache = false }), nil},
		{"enable over URL", "?client-cache=false", map[string]string{"RUEIDISFS_CLIENT_CACHE": "1"}, base(nil), nil},
		{"enable on", "?client-cache=off", map[string]string{"RUEIDISFS_CLIENT_CACHE": "on"}, base(nil), nil},
		{"enable true but RESP2", "?protocol=2", map[string]string{"RUEIDISFS_CLIENT_CACHE": "true"},
			base(func(c *Config) { c.ClientCache, c.Protocol = false, 2 }),
			[]string{"client-side caching needs RESP3 and is turned off because protocol=2"}},
		{"empty is unset", "?client-cache=false", map[string]string{"RUEIDISFS_CLIENT_CACHE": ""}, base(func(c *Config) { c.ClientCache = false }), nil},
		{"knobs", "?client-cache-size=5&client-cache-ttl=1m&pipeline-multiplex=3&max-flush-delay=1us", map[string]string{
			"RUEIDISFS_CLIENT_CACHE_SIZE":  "1234",
			"RUEIDISFS_CLIENT_CACHE_TTL":   "90s",
			"RUEIDISFS_PIPELINE_MULTIPLEX": "0",
			"RUEIDISFS_MAX_FLUSH_DELAY":    "50us",
		}, base(func(c *Config) {
			c.ClientCacheSize, c.ClientCacheTTL, c.PipelineMultiplex, c.MaxFlushDelay = 1234, 90*time.Second, 0, 50*time.Microsecond
		}), nil},
		{"multiplex back to rueidis' default", "?pipeline-multiplex=3", map[string]string{"RUEIDISFS_PIPELINE_MULTIPLEX": "-1"}, base(func(c *Config) { c.PipelineMultiplex = -1 }), nil},
		{"flush delay zero", "?max-flush-delay=1us", map[string]string{"RUEIDISFS_MAX_FLUSH_DELAY": "0"}, base(nil), nil},
		{"direct calls off", "", map[string]string{"RUEIDISFS_DIRECT_WHEN_ALONE": "off"}, base(func(c *Config) { c.DirectWhenAlone = false }), nil},
		{"direct calls back on", "?direct-when-alone=false", map[string]string{"RUEIDISFS_DIRECT_WHEN_ALONE": "yes"}, base(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w, err := Parse("redis://h/1"+tt.query, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			checkConfig(t, c, tt.want)
			checkWarnings(t, w, tt.warnings)
		})
	}

	bad := []struct{ name, value, want string }{
		{"RUEIDISFS_CLIENT_CACHE", "maybe", `is not a boolean; use 0/false/off to disable or 1/true/on to enable client-side caching`},
		{"RUEIDISFS_CLIENT_CACHE_SIZE", "0", `is not an integer greater than 0`},
		{"RUEIDISFS_CLIENT_CACHE_SIZE", "lots", `is not an integer greater than 0`},
		{"RUEIDISFS_CLIENT_CACHE_SIZE", "99999999999", `is not an integer greater than 0`},
		{"RUEIDISFS_CLIENT_CACHE_TTL", "60", `is not a positive duration with a unit, like "1h" or "30s"`},
		{"RUEIDISFS_CLIENT_CACHE_TTL", "0s", `is not a positive duration with a unit, like "1h" or "30s"`},
		{"RUEIDISFS_PIPELINE_MULTIPLEX", "9", `is not an integer from 0 to 8 (or -1 for the rueidis default)`},
		{"RUEIDISFS_PIPELINE_MULTIPLEX", "-2", `is not an integer from 0 to 8 (or -1 for the rueidis default)`},
		{"RUEIDISFS_MAX_FLUSH_DELAY", "20", `is not a duration of 0 or more with a unit, like "20us"`},
		{"RUEIDISFS_MAX_FLUSH_DELAY", "-1us", `is not a duration of 0 or more with a unit, like "20us"`},
		{"RUEIDISFS_DIRECT_WHEN_ALONE", "sometimes", `is not a boolean (1/true/on/yes or 0/false/off/no)`},
	}
	for _, tt := range bad {
		_, _, err := Parse("redis://:pw@h/1", env(map[string]string{tt.name: tt.value}))
		want := `meta URL "redis://:****@h/1": environment variable ` + tt.name + `="` + tt.value + `" ` + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("%s=%q: error\n got: %v\nwant: %s", tt.name, tt.value, err, want)
		}
	}
}

func TestNilGetenv(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "from-process")
	t.Setenv("RUEIDISFS_CLIENT_CACHE", "0")
	c, _, err := Parse("redis://h/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Password != "" || !c.ClientCache {
		t.Errorf("a nil getenv must mean an empty environment, got password %q, cache %v", c.Password, c.ClientCache)
	}
}
