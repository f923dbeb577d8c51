package metaurl

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseForms(t *testing.T) {
	type want struct {
		scheme     string
		tls        bool
		mode       Mode
		addrs      []string
		master     string
		socket     string
		db         int
		user, pass string
	}
	tests := []struct {
		url  string
		want want
	}{
		// Single server.
		{"localhost:6379/1", want{scheme: "redis", addrs: []string{"localhost:6379"}, db: 1}},
		{"redis://h", want{scheme: "redis", addrs: []string{"h:6379"}}},
		{"redis://", want{scheme: "redis", addrs: []string{"localhost:6379"}}},
		{"redis://:6380/2", want{scheme: "redis", addrs: []string{"localhost:6380"}, db: 2}},
		{"redis://h:/3", want{scheme: "redis", addrs: []string{"h:6379"}, db: 3}},
		{"redis://h:06380", want{scheme: "redis", addrs: []string{"h:6380"}}},
		{"REDIS://Host.Example:1/1", want{scheme: "redis", addrs: []string{"Host.Example:1"}, db: 1}},
		{"  redis://h/1\n", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1}},
		{"redis://h//1/", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1}},
		{"redis://h/01", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1}},
		{"redis://h/%31%32", want{scheme: "redis", addrs: []string{"h:6379"}, db: 12}},
		{"redis://h/", want{scheme: "redis", addrs: []string{"h:6379"}}},
		{"redis://h/1?db=2", want{scheme: "redis", addrs: []string{"h:6379"}, db: 2}},
		{"redis://h/1?db=", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1}},
		{"redis://10.0.0.1:7000/15", want{scheme: "redis", addrs: []string{"10.0.0.1:7000"}, db: 15}},
		{"redis://redis_1.svc-a.local/1", want{scheme: "redis", addrs: []string{"redis_1.svc-a.local:6379"}, db: 1}},
		// Schemes.
		{"rediss://h/1", want{scheme: "rediss", tls: true, addrs: []string{"h:6379"}, db: 1}},
		{"rueidis://h/1", want{scheme: "rueidis", addrs: []string{"h:6379"}, db: 1}},
		{"ruediss://h/1", want{scheme: "ruediss", tls: true, addrs: []string{"h:6379"}, db: 1}},
		{"rueidiss://h/1", want{scheme: "rueidiss", tls: true, addrs: []string{"h:6379"}, db: 1}},
		{"RuediSS://h/1", want{scheme: "ruediss", tls: true, addrs: []string{"h:6379"}, db: 1}},
		// Credentials.
		{"redis://user:pass@h:6379/4", want{scheme: "redis", addrs: []string{"h:6379"}, db: 4, user: "user", pass: "pass"}},
		{"redis://:pass@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, pass: "pass"}},
		{"redis://user@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, user: "user"}},
		{"redis://user:@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, user: "user"}},
		{"redis://:p%40ss%2F%3F%23%25@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, pass: "p@ss/?#%"}},
		{"redis://:p@ss@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, pass: "p@ss"}},
		{"redis://u:pa:ss@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, user: "u", pass: "pa:ss"}},
		{"redis://u:p+s@h/1", want{scheme: "redis", addrs: []string{"h:6379"}, db: 1, user: "u", pass: "p+s"}},
		{"redis://:pw@/1", want{scheme: "redis", addrs: []string{"localhost:6379"}, db: 1, pass: "pw"}},
		// IPv6.
		{"redis://[::1]:6379/1", want{scheme: "redis", addrs: []string{"[::1]:6379"}, db: 1}},
		{"redis://[::1]/1", want{scheme: "redis", addrs: []string{"[::1]:6379"}, db: 1}},
		{"redis://[2001:db8::5]:", want{scheme: "redis", addrs: []string{"[2001:db8::5]:6379"}}},
		{"redis://[fe80::1%25eth0]:7000/1", want{scheme: "redis", addrs: []string{"[fe80::1%eth0]:7000"}, db: 1}},
		{"redis://[::ffff:1.2.3.4]:1", want{scheme: "redis", addrs: []string{"[::ffff:1.2.3.4]:1"}}},
		// Sentinel.
		{"redis://:pw@mymaster,s1,s2:26380/2", want{scheme: "redis", mode: ModeSentinel, master: "mymaster",
			addrs: []string{"s1:26380", "s2:26380"}, db: 2, pass: "pw"}},
		{"redis://m,s1:1,s2:2/3", want{scheme: "redis", mode: ModeSentinel, master: "m", addrs: []string{"s1:1", "s2:2"}, db: 3}},
		{"redis://m,s1,s2", want{scheme: "redis", mode: ModeSentinel, master: "m", addrs: []string{"s1:26379", "s2:26379"}}},
		{"redis://m,s1", want{scheme: "redis", mode: ModeSentinel, master: "m", addrs: []string{"s1:26379"}}},
		{"redis://m,s1:5000,s2:", want{scheme: "redis", mode: ModeSentinel, master: "m", addrs: []string{"s1:5000", "s2:26379"}}},
		{"redis://m,s1:5000,s2/1", want{scheme: "redis", mode: ModeSentinel, master: "m", addrs: []string{"s1:5000", "s2:26379"}, db: 1}},
		{"rediss://m,[::1]:26380,[::2]/1", want{scheme: "rediss", tls: true, mode: ModeSentinel, master: "m",
			addrs: []string{"[::1]:26380", "[::2]:26379"}, db: 1}},
		{"redis://my%2Dmaster.prod,s1:1", want{scheme: "redis", mode: ModeSentinel, master: "my-master.prod", addrs: []string{"s1:1"}}},
		// Cluster.
		{"redis://h1:7000,h2:7001,h3/5", want{scheme: "redis", mode: ModeCluster, addrs: []string{"h1:7000", "h2:7001", "h3:6379"}, db: 5}},
		{"rediss://u:p@h1:7000,h2:7001", want{scheme: "rediss", tls: true, mode: ModeCluster, addrs: []string{"h1:7000", "h2:7001"}, user: "u", pass: "p"}},
		{"redis://[::1]:7000,[::2]:7001/1", want{scheme: "redis", mode: ModeCluster, addrs: []string{"[::1]:7000", "[::2]:7001"}, db: 1}},
		// Unix socket.
		{"unix:///tmp/redis.sock", want{scheme: "unix", mode: ModeUnix, socket: "/tmp/redis.sock"}},
		{"unix://user:pw@/tmp/r.sock?db=3", want{scheme: "unix", mode: ModeUnix, socket: "/tmp/r.sock", db: 3, user: "user", pass: "pw"}},
		{"unix://:pw@/var/run/redis/a%20b.sock", want{scheme: "unix", mode: ModeUnix, socket: "/var/run/redis/a b.sock", pass: "pw"}},
		{"UNIX:///s", want{scheme: "unix", mode: ModeUnix, socket: "/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, warnings, err := Parse(tt.url, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			got := want{c.Scheme, c.TLS, c.Mode, c.Addrs, c.MasterName, c.SocketPath, c.DB, c.Username, c.Password}
			if !slices.Equal(got.addrs, tt.want.addrs) {
				t.Errorf("Addrs = %q, want %q", got.addrs, tt.want.addrs)
			}
			got.addrs, tt.want.addrs = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.want.pass != "" && c.PasswordSource != "url" {
				t.Errorf("PasswordSource = %q, want url", c.PasswordSource)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	hint := "; if the password contains '/', '?', '#' or '@', percent-encode them as %2F, %3F, %23, %40"
	schemes := "redis://, rediss://, rueidis://, ruediss:// (alias rueidiss://) or unix://"
	tests := []struct{ url, want string }{
		{"", "meta URL is empty; give one like redis://localhost:6379/1"},
		{"   ", "meta URL is empty; give one like redis://localhost:6379/1"},
		{"http://h", `meta URL "http://h": unsupported scheme "http"; use ` + schemes},
		{"mysql://u:pw@h/db", `meta URL "mysql://u:****@h/db": unsupported scheme "mysql"; use ` + schemes},
		{"a:pw@h/1?x=file://z", `meta URL "a:****@h/1?x=file://z": the text before the first "://" is not a scheme; start the URL with ` + schemes},
		{"://h", `meta URL "://h": the text before the first "://" is not a scheme; start the URL with ` + schemes},
		{"redis://h/\x01", `meta URL "redis://h/\x01": contains the control character 0x01`},
		{"redis://h:99999/1", `meta URL "redis://h:99999/1": port 99999 out of range 1-65535`},
		{"redis://h:0/1", `meta URL "redis://h:0/1": port 0 out of range 1-65535`},
		{"redis://h:99999999999999999999999", `meta URL "redis://h:99999999999999999999999": port 99999999999999999999999 out of range 1-65535`},
		{"redis://h:abc/1", `meta URL "redis://h:abc/1": port "abc" is not a number`},
		{"redis://h:-1/1", `meta URL "redis://h:-1/1": port "-1" is not a number`},
		{"redis://h/1/2", `meta URL "redis://h/1/2": path "/1/2" has more than one segment; it may only hold the database number, as in redis://host:6379/1`},
		{"redis://h/x", `meta URL "redis://h/x": database number "x" in the path is not a non-negative integer`},
		{"redis://h/-1", `meta URL "redis://h/-1": database number "-1" in the path is not a non-negative integer`},
		{"redis://h/+1", `meta URL "redis://h/+1": database number "+1" in the path is not a non-negative integer`},
		{"redis://h/99999999999", `meta URL "redis://h/99999999999": database number "99999999999" in the path is not a non-negative integer`},
		{"redis://h/%zz", `meta URL "redis://h/%zz": bad percent-encoding in the path "/%zz"`},
		{"redis://h/1?db=x", `meta URL "redis://h/1?db=x": query option db="x" is not a non-negative integer`},
		{"redis://a:1,,b:2/1", `meta URL "redis://a:1,,b:2/1": empty address in host list "a:1,,b:2"`},
		{"redis://a:1,b:2,/1", `meta URL "redis://a:1,b:2,/1": empty address in host list "a:1,b:2,"`},
		{"redis://a:1,b:99999", `meta URL "redis://a:1,b:99999": port 99999 out of range 1-65535`},
		{"redis://a:1,:2", `meta URL "redis://a:1,:2": address ":2" has no host`},
		{"redis://m,,s:1/1", `meta URL "redis://m,,s:1/1": empty address in host list "m,,s:1"`},
		{"redis://m,s:1,", `meta URL "redis://m,s:1,": empty address in host list "m,s:1,"`},
		{"redis://,s1:1/1", `meta URL "redis://,s1:1/1": empty Sentinel master name before the first comma; write master,sentinel1,sentinel2:26379`},
		{"redis://m%20x,s1:1", `meta URL "redis://m%20x,s1:1": the Sentinel master name contains a space or a control character`},
		{"redis://m%zz,s1:1", `meta URL "redis://m%zz,s1:1": bad percent-encoding in the Sentinel master name "m%zz"`},
		{"redis://m,s1:x", `meta URL "redis://m,s1:x": port "x" is not a number`},
		{"redis://[::1/1", `meta URL "redis://[::1/1": missing ']' after IPv6 address "[::1"`},
		{"redis://[::1]x/1", `meta URL "redis://[::1]x/1": unexpected "x" after IPv6 address "[::1]"`},
		{"redis://[1.2.3.4]:1/1", `meta URL "redis://[1.2.3.4]:1/1": "[1.2.3.4]" is not an IPv6 address`},
		{"redis://[::1]:99999", `meta URL "redis://[::1]:99999": port 99999 out of range 1-65535`},
		{"redis://::1/1", `meta URL "redis://::1/1": IPv6 address "::1" must be written in brackets, as in [::1]:6379`},
		{"redis://h o/1", `meta URL "redis://h o/1": host "h o" contains " ", which is not allowed in a host name`},
		{"redis://h%41/1", `meta URL "redis://h%41/1": host "h%41" contains "%", which is not allowed in a host name`},
		{"unix://host/tmp/s", `meta URL "unix://host/tmp/s": a unix socket URL takes no host ("host"); write unix:///path/to/socket, with three slashes`},
		{"unix://", `meta URL "unix://": no socket path; write unix:///path/to/socket`},
		{"unix:///", `meta URL "unix:///": no socket path; write unix:///path/to/socket`},
		{"unix:///tmp/%zz", `meta URL "unix:///tmp/%zz": bad percent-encoding in the socket path`},
		// Badly escaped passwords: the password never shows.
		{"redis://:pa#ss@h/1", `meta URL "redis://:****@h/1": '#' is not allowed (it would start a URL fragment); write a '#' in a password as %23`},
		{"redis://h/1#frag", `meta URL "redis://h/1#frag": '#' is not allowed (it would start a URL fragment); write a '#' in a password as %23`},
		{"redis://:pa/ss@h/1", `meta URL "redis://:****@h/1": cannot parse the address` + hint},
		{"redis://:pa?ss@h/1", `meta URL "redis://:****@h/1": cannot parse the address` + hint},
		{"redis://u:pa/ss@h/1", `meta URL "redis://u:****@h/1": cannot parse the address` + hint},
		{"unix://:pa/ss@/tmp/s", `meta URL "unix://:****@/tmp/s": cannot parse the address` + hint},
		{"redis://u:?secret@h", `meta URL "redis://u:****@h": a query option name contains '@'` + hint},
		{"redis://:?secret@h/1", `meta URL "redis://:****@h/1": a query option name contains '@'` + hint},
		{"redis://u:p%zz@h/1", `meta URL "redis://u:****@h/1": bad percent-encoding in the password; write '%' as %25`},
		{"redis://u%zz:p@h/1", `meta URL "redis://u%zz:****@h/1": bad percent-encoding in the user name; write '%' as %25`},
		// Query syntax.
		{"redis://h/1?%zz=1", `meta URL "redis://h/1?%zz=1": bad percent-encoding in the query option name "%zz"; write '%' as %25`},
		{"redis://h/1?tls-ca-cert-file=%zz", `meta URL "redis://h/1?tls-ca-cert-file=%zz": bad percent-encoding in the value of query option "tls-ca-cert-file"; write '%' as %25`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, _, err := Parse(tt.url, nil)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error %q", c, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "meta URL") {
				t.Errorf("error does not start with \"meta URL\": %s", err)
			}
		})
	}
}

// TestErrorsHidePassword checks that no error message shows the password,
// however badly it is escaped.
func TestErrorsHidePassword(t *testing.T) {
	const secret = "S3cr3tPW"
	for _, u := range []string{
		"redis://:" + secret + "@h:99999/1",
		"redis://u:" + secret + "@h/1/2",
		"redis://u:" + secret + "/x@h/1",
		"redis://u:" + secret + "?x@h/1",
		"redis://u:" + secret + "#x@h/1",
		"redis://u:x/" + secret + "@h/1",
		"redis://u:x?" + secret + "@h/1",
		"redis://u:x#" + secret + "@h/1",
		"redis://:" + secret + "@h/1?db=x",
		"rediss://:" + secret + "@h/1?tls-cert-file=a",
		"unix://:" + secret + "@host/s",
		"unix://:" + secret + "/x@/s",
		"mysql://:" + secret + "@h/1",
		"redis://:" + secret + "@h/1?client-cache-size=0",
		"redis://u:?" + secret + "@h/1",
	} {
		_, warnings, err := Parse(u, nil)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[2:]) {
			t.Errorf("error shows the password: %s", err)
		}
		for _, w := range warnings {
			if strings.Contains(w, secret) {
				t.Errorf("warning shows the password: %s", w)
			}
		}
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ url, want string }{
		{"redis://u:secret@h:6379/1", "redis://u:****@h:6379/1"},
		{"redis://:secret@h/1?read-timeout=1s", "redis://:****@h/1?read-timeout=1s"},
		{"redis://:p@ss@h/1", "redis://:****@h/1"},
		{"redis://u@h/1", "redis://u@h/1"},
		{"redis://u:@h/1", "redis://u:@h/1"},
		{"h:6379/1", "redis://h:6379/1"},
		{":secret@h/1", "redis://:****@h/1"},
		{"unix://u:secret@/tmp/s?db=1", "unix://u:****@/tmp/s?db=1"},
		{"redis://:secret@m,s1,s2:26379/1", "redis://:****@m,s1,s2:26379/1"},
		{"redis://h/1?client_name=a@b", "redis://h/1?client_name=a@b"},
		{"redis://u:p@h/1?client_name=a@b", "redis://u:****@h/1?client_name=a@b"},
	}
	for _, tt := range tests {
		c, _, err := Parse(tt.url, nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.url, err)
		}
		if got := c.Redacted(); got != tt.want {
			t.Errorf("Redacted(%q) = %q, want %q", tt.url, got, tt.want)
		}
		if got := c.String(); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}

	// A password from the environment is never shown.
	c, _, err := Parse("redis://h/1", env(map[string]string{"REDIS_PASSWORD": "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Redacted(); got != "redis://h/1" {
		t.Errorf("Redacted = %q", got)
	}

	// A Config built by hand gets a rebuilt URL.
	hand := &Config{Mode: ModeSentinel, TLS: true, MasterName: "m", Addrs: []string{"s:26379"}, DB: 2,
		Username: "u", Password: "secret", ClientCache: true, DirectWhenAlone: true, Protocol: 3}
	const want = "rediss://u:****@m,s:26379/2?read-timeout=0s&write-timeout=0s&min-retry-backoff=0s&max-retry-backoff=0s&dial_timeout=0s&io-retries=0&wait-timeout=0s&client-cache-size=0&client-cache-ttl=0s"
	if got := hand.Redacted(); got != want {
		t.Errorf("hand-built Redacted =\n %q\nwant\n %q", got, want)
	}
}

func TestKeyPrefix(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
		want    string
	}{
		{"redis://h/1", false, ""},
		{"redis://h/1", true, "{1}"},
		{"redis://h/01", true, "{1}"},
		{"redis://h", true, "{0}"},
		{"redis://h:1,h:2/10", false, "{10}"},
		{"redis://h:1,h:2/10", true, "{10}"},
		{"redis://m,s:1/3", false, ""},
		{"redis://m,s:1/3", true, ""},
		{"unix:///s?db=4", false, ""},
		{"unix:///s?db=4", true, "{4}"},
	}
	for _, tt := range tests {
		c, _, err := Parse(tt.url, nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.url, err)
		}
		if got := c.KeyPrefix(tt.cluster); got != tt.want {
			t.Errorf("KeyPrefix(%q, %v) = %q, want %q", tt.url, tt.cluster, got, tt.want)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeSingle: "single", ModeSentinel: "sentinel", ModeCluster: "cluster", ModeUnix: "unix", Mode(9): "mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestRedactedHandBuiltScheme(t *testing.T) {
	tests := []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.Mode, c.SocketPath, c.DB = ModeUnix, "/run/r.sock", 2 }, "unix:///run/r.sock?db=2"},
		{func(c *Config) { c.TLS, c.Addrs = true, []string{"h:1"} }, "rediss://h:1"},
		{func(c *Config) { c.Scheme, c.Addrs = "ruediss", []string{"h:1"} }, "redis://h:1"},
		{func(c *Config) { c.Scheme, c.TLS, c.Addrs = "ruediss", true, []string{"[fe80::1%eth0]:1"} }, "ruediss://[fe80::1%25eth0]:1"},
		{func(c *Config) { c.Scheme, c.Addrs = "unix", []string{"h:1"} }, "redis://h:1"},
	}
	for _, tt := range tests {
		c := defaultConfig()
		tt.edit(c)
		if got := c.Redacted(); got != tt.want {
			t.Errorf("Redacted = %q, want %q", got, tt.want)
		}
	}
}
