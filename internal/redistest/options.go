package redistest

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Option changes how a redis-server is configured. Options given to
// StartCluster apply to every node; options given to StartSentinel apply to
// the master and the replica (not to the sentinels, except that a password
// becomes the sentinels' auth-pass and TLS is used on every link).
type Option func(*serverConfig)

// serverConfig is everything needed to render a redis.conf. The exported
// options fill the first block; the helpers of this package (cluster,
// sentinel, shared server) fill the second one.
type serverConfig struct {
	aof        bool
	password   string
	aclUsers   []string // complete "user ..." directives
	tls        bool
	mutualTLS  bool
	unixSocket bool
	extra      []string

	sentinelPassword string // requirepass of the sentinels (StartSentinel)
	sentinelUser     string // with sentinelPassword: the sentinels' only ACL user

	// username: the ACL user the harness itself authenticates as (with
	// password); empty for the default user. Set for sentinels only.
	username string

	databases int       // 0: Redis default (16)
	cluster   bool      // cluster-enabled yes
	replicaOf string    // "host port" of the master, for a replica
	tlsFiles  *tlsFiles // shared certificate material; nil: generated per server
	busPort   bool      // the port must leave port+10000 free (cluster bus)

	sentinel *sentinelConfig // non-nil: the process is a sentinel
}

// sentinelConfig holds what a sentinel monitors.
type sentinelConfig struct {
	masterName string
	masterAddr string // "host port"
	quorum     int
	authPass   string
}

// WithAOF enables the append-only file with fsync after every write, so that
// data survives Kill followed by Restart.
func WithAOF() Option {
	return func(c *serverConfig) { c.aof = true }
}

// WithPassword sets requirepass (the password of the default user). In a
// Cluster or a Sentinel group it is also the masterauth of the replicas and
// the auth-pass of the sentinels.
func WithPassword(pw string) Option {
	return func(c *serverConfig) { c.password = pw }
}

// WithACLUser adds an ACL user with the given password. rules are ACL rules
// such as "+@all", "~*", "&*"; without rules the user may do everything.
func WithACLUser(user, pass string, rules ...string) Option {
	return func(c *serverConfig) {
		if len(rules) == 0 {
			rules = []string{"~*", "&*", "+@all"}
		}
		words := append([]string{"user", user, "on", ">" + pass}, rules...)
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = quote(w)
		}
		c.aclUsers = append(c.aclUsers, strings.Join(quoted, " "))
	}
}

// WithSentinelPassword makes the sentinels of StartSentinel require a
// password (requirepass, and sentinel-pass so that they still talk to each
// other); the data nodes are not affected. Other functions ignore it.
func WithSentinelPassword(pw string) Option {
	return func(c *serverConfig) { c.sentinelPassword = pw }
}

// WithSentinelUser makes the sentinels of StartSentinel accept only the ACL
// user user with password pw (the default user is off; the sentinels use
// the same user with each other); the data nodes are not affected. Other
// functions ignore it.
func WithSentinelUser(user, pw string) Option {
	return func(c *serverConfig) { c.sentinelUser, c.sentinelPassword = user, pw }
}

// WithTLS makes the server listen on a TLS-only port. A throwaway CA, a
// server certificate (IP 127.0.0.1, DNS localhost) and a client certificate
// are generated in the server's directory; see Server.TLSFiles. Client
// certificates are optional (tls-auth-clients optional).
func WithTLS() Option {
	return func(c *serverConfig) { c.tls = true }
}

// WithMutualTLS is WithTLS with client certificates required
// (tls-auth-clients yes).
func WithMutualTLS() Option {
	return func(c *serverConfig) { c.tls, c.mutualTLS = true, true }
}

// WithUnixSocket makes the server also listen on a unix socket (see
// Server.Socket and Server.URL with scheme "unix").
func WithUnixSocket() Option {
	return func(c *serverConfig) { c.unixSocket = true }
}

// WithConfig appends one redis.conf line, for example
// WithConfig("maxmemory 10mb"). Later lines override earlier ones.
func WithConfig(directive string) Option {
	return func(c *serverConfig) { c.extra = append(c.extra, directive) }
}

func newConfig(opts []Option) serverConfig {
	var c serverConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// clone returns a copy that shares no slices with c.
func (c serverConfig) clone() serverConfig {
	c.aclUsers = append([]string(nil), c.aclUsers...)
	c.extra = append([]string(nil), c.extra...)
	return c
}

// quote makes s a single redis.conf argument.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// render produces the configuration file of a server listening on port with
// its files in dir.
func (c *serverConfig) render(dir string, port int, socket string, tf *tlsFiles) string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	add("bind 127.0.0.1")
	add("protected-mode no")
	add("daemonize no")
	add("dir %s", quote(dir))
	add("logfile %s", quote(filepath.Join(dir, logName)))
	if tf != nil {
		add("port 0")
		add("tls-port %d", port)
		add("tls-cert-file %s", quote(tf.ServerCert))
		add("tls-key-file %s", quote(tf.ServerKey))
		add("tls-ca-cert-file %s", quote(tf.CA))
		if c.mutualTLS {
			add("tls-auth-clients yes")
		} else {
			add("tls-auth-clients optional")
		}
		add("tls-replication yes")
		if c.cluster {
			add("tls-cluster yes")
		}
	} else {
		add("port %d", port)
	}

	if s := c.sentinel; s != nil {
		add("sentinel monitor %s %s %d", s.masterName, s.masterAddr, s.quorum)
		add("sentinel down-after-milliseconds %s %d", s.masterName, downAfter.Milliseconds())
		add("sentinel failover-timeout %s 2000", s.masterName)
		add("sentinel parallel-syncs %s 1", s.masterName)
		if s.authPass != "" {
			add("sentinel auth-pass %s %s", s.masterName, quote(s.authPass))
		}
		switch {
		case c.username != "":
			add("user default off")
			add("user %s on %s allchannels +@all", quote(c.username), quote(">"+c.password))
			add("sentinel sentinel-user %s", quote(c.username))
			add("sentinel sentinel-pass %s", quote(c.password))
		case c.password != "":
			add("requirepass %s", quote(c.password))
			add("sentinel sentinel-pass %s", quote(c.password))
		}
		lines = append(lines, c.extra...)
		return strings.Join(lines, "\n") + "\n"
	}

	add(`save ""`)
	add("dbfilename dump.rdb")
	if c.aof {
		add("appendonly yes")
		add("appendfsync always")
	} else {
		add("appendonly no")
	}
	if c.databases > 0 {
		add("databases %d", c.databases)
	}
	add("enable-debug-command yes")
	add("repl-diskless-sync-delay 0") // replicas sync at once, not after 5 s
	if socket != "" {
		add("unixsocket %s", quote(socket))
		add("unixsocketperm 700")
	}
	if c.password != "" {
		add("requirepass %s", quote(c.password))
		add("masterauth %s", quote(c.password))
	}
	lines = append(lines, c.aclUsers...)
	if c.cluster {
		add("cluster-enabled yes")
		add("cluster-config-file nodes.conf")
		add("cluster-node-timeout 2000")
		add("cluster-replica-validity-factor 0")
	}
	if c.replicaOf != "" {
		add("replicaof %s", c.replicaOf)
	}
	lines = append(lines, c.extra...)
	return strings.Join(lines, "\n") + "\n"
}
