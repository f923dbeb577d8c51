package metaurl

import (
	"strconv"
	"time"
)

// Mode is the kind of Redis deployment a meta URL names.
type Mode int

const (
	// ModeSingle is one server reached over TCP. It may turn out to be a
	// Cluster node; the connection layer detects that, as JuiceFS does.
	ModeSingle Mode = iota
	// ModeSentinel is a master found through Redis Sentinel.
	ModeSentinel
	// ModeCluster is a Redis Cluster given by a comma-separated seed list.
	ModeCluster
	// ModeUnix is one server reached over a unix socket.
	ModeUnix
)

// String returns the lower-case name of the mode, for logs.
func (m Mode) String() string {
	switch m {
	case ModeSingle:
		return "single"
	case ModeSentinel:
		return "sentinel"
	case ModeCluster:
		return "cluster"
	case ModeUnix:
		return "unix"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// RouteRead says where a read-only client sends read commands (URL option
// route-read). It matters only for read-only mounts, as in JuiceFS.
type RouteRead string

const (
	// RoutePrimary sends reads to the primary (the default).
	RoutePrimary RouteRead = ""
	// RouteReplica sends reads to replicas only (Sentinel and Cluster).
	RouteReplica RouteRead = "replica"
	// RouteRandom spreads reads over the primary and its replicas (Cluster).
	RouteRandom RouteRead = "random"
	// RouteLatency sends reads to the node with the lowest latency (Cluster).
	RouteLatency RouteRead = "latency"
)

// Defaults of the options JuiceFS 1.4.1 also reads; they are JuiceFS's values.
const (
	// DefaultPort is the Redis port used when an address has none.
	DefaultPort = 6379
	// DefaultSentinelPort is the Sentinel port used when no sentinel address has one.
	DefaultSentinelPort = 26379
	// DefaultReadTimeout is the default of read-timeout.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout is the default of write-timeout.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultMinRetryBackoff is the default of min-retry-backoff.
	DefaultMinRetryBackoff = 20 * time.Millisecond
	// DefaultMaxRetryBackoff is the default of max-retry-backoff.
	DefaultMaxRetryBackoff = 10 * time.Second
	// DefaultDialTimeout is the default of dial_timeout.
	DefaultDialTimeout = 5 * time.Second
	// DefaultIORetries is the default of io-retries, the same as juicefs --io-retries.
	DefaultIORetries = 10
	// DefaultWaitTimeout is the default of wait-timeout (rueidisfs only).
	DefaultWaitTimeout = 5 * time.Second
	// DefaultProtocol is the default RESP protocol version (option protocol).
	DefaultProtocol = 3
)

// Defaults of rueidisfs's own options.
const (
	// DefaultClientCacheSize is the default of client-cache-size: the most
	// entries the client-side cache keeps for each connection.
	DefaultClientCacheSize = 200000
	// DefaultClientCacheTTL is the default of client-cache-ttl: the longest
	// time a cached value is trusted without a server invalidation.
	DefaultClientCacheTTL = time.Hour
	// DefaultPipelineMultiplex is the default of pipeline-multiplex: one
	// pipelined connection per server. rueidis would open four to a
	// single server; with the engine's small commands and scripts, one
	// connection batches more of them per system call, on both sides: 7-11 %
	// less CPU per file created by 4 and 16 concurrent mdtest threads.
	DefaultPipelineMultiplex = 0
	// MaxPipelineMultiplex is the largest pipeline-multiplex rueidis accepts
	// (2^8 pipelined connections per server).
	MaxPipelineMultiplex = 8
	// MaxRingScale is the largest ring-scale accepted. Each connection
	// allocates 2^ring-scale slots, so larger values cost a lot of memory.
	MaxRingScale = 16
)

// Config is everything a meta URL says, after defaults, environment
// variables and credentials have been applied. Parse fills it; the connection
// layer (package redisconn) maps it onto rueidis options.
//
// A zero duration or count means "not set, use the rueidis default" unless
// the field's comment says otherwise. Fields about TLS apply only when TLS is
// true.
type Config struct {
	// Scheme is the scheme as written by the user, lower-cased ("redis"
	// when the URL had none).
	Scheme string
	// TLS is true for rediss, ruediss and rueidiss.
	TLS bool
	// Mode is the deployment form the URL names.
	Mode Mode
	// Addrs holds "host:port" addresses (IPv6 hosts in brackets): the one
	// server for ModeSingle, the seeds for ModeCluster, the sentinels for
	// ModeSentinel; empty for ModeUnix.
	Addrs []string
	// MasterName is the Sentinel master name (ModeSentinel only).
	MasterName string
	// SocketPath is the unix socket path (ModeUnix only).
	SocketPath string
	// DB is the database number. In Cluster mode it is not selected (a
	// cluster has only database 0); it names the key prefix instead.
	DB int

	// Username is the ACL user name from the URL; empty means "default".
	Username string
	// Password comes from the URL or, when the URL has none, from
	// REDIS_PASSWORD, META_PASSWORD or the file named by META_PASSWORD_FILE.
	Password string
	// PasswordSource tells where Password came from, for logs: "url", the
	// name of the environment variable, or "" when there is no password.
	PasswordSource string
	// SentinelUsername authenticates to the sentinels (SENTINEL_USERNAME,
	// a rueidisfs extension).
	SentinelUsername string
	// SentinelPassword authenticates to the sentinels (SENTINEL_PASSWORD).
	SentinelPassword string

	// ReadTimeout bounds the wait for a reply (read-timeout).
	ReadTimeout time.Duration
	// WriteTimeout bounds the wait to send a command (write-timeout).
	WriteTimeout time.Duration
	// DialTimeout bounds connection establishment (dial_timeout); always > 0.
	DialTimeout time.Duration
	// MinRetryBackoff is the first pause before retrying a command after a
	// network error (min-retry-backoff); 0 retries at once.
	MinRetryBackoff time.Duration
	// MaxRetryBackoff caps the exponentially growing pause (max-retry-backoff).
	MaxRetryBackoff time.Duration
	// IORetries is how many times a command is retried after a network
	// error (io-retries, or max_retries); 0 disables retries.
	IORetries int
	// RouteRead says where a read-only client sends reads (route-read).
	RouteRead RouteRead
	// WaitReplicas is how many replicas must have received a mutation
	// before it is acknowledged (wait-replicas, Redis' WAIT); 0 does not
	// wait, as JuiceFS.
	WaitReplicas int
	// WaitTimeout bounds that wait (wait-timeout); a mutation not received
	// by WaitReplicas replicas in time fails. Always > 0.
	WaitTimeout time.Duration

	// InsecureSkipVerify disables server certificate verification.
	InsecureSkipVerify bool
	// TLSCertFile and TLSKeyFile name the PEM client certificate and key for
	// mutual TLS; both or neither are set.
	TLSCertFile, TLSKeyFile string
	// TLSCAFile names a PEM CA bundle; empty means the system roots.
	TLSCAFile string
	// TLSServerName is the name verified in the server certificate; empty
	// means the host of each connection (JuiceFS's behaviour).
	TLSServerName string

	// ClientCache enables server-assisted client-side caching (RESP3).
	ClientCache bool
	// ClientCacheSize is the most entries cached for each connection.
	ClientCacheSize int
	// ClientCacheTTL is the longest time a cached value is used; always > 0.
	ClientCacheTTL time.Duration
	// ClientCachePreload is how many root-directory entries to load into the
	// cache after the session starts (JuiceFS's client-cache-preload).
	ClientCachePreload int

	// PipelineMultiplex is log2 of the pipelined connections per server,
	// 0..MaxPipelineMultiplex, or -1 for the rueidis default. Note that
	// rueidis reads its own field's 0 as "default", so 0 here (exactly one
	// connection) must be passed to rueidis as a negative value.
	PipelineMultiplex int
	// MaxFlushDelay is rueidis' MaxFlushDelay; 0 flushes at once.
	MaxFlushDelay time.Duration
	// RingScale is rueidis' RingScaleEachConn; 0 is the rueidis default.
	RingScale int
	// DirectWhenAlone sends the commands of a caller that finds no other
	// command of the client under way on a pooled connection of its own,
	// written and read by the caller, instead of through the pipeline
	// (direct-when-alone; see redisconn's idleSync).
	DirectWhenAlone bool

	// ClientName is sent with CLIENT SETNAME (client_name); empty sends none.
	ClientName string
	// Protocol is the RESP version, 2 or 3 (protocol). Client-side caching
	// needs 3.
	Protocol int
	// PoolSize is the size of the pool of dedicated connections (pool_size,
	// rueidis' BlockingPoolSize); 0 is the rueidis default.
	PoolSize int
	// ConnLifetime closes pipelined connections after this age
	// (conn_max_lifetime); 0 keeps them forever.
	ConnLifetime time.Duration

	// redacted is the URL as written with the password masked; empty for a
	// Config built by hand, in which case Redacted rebuilds a URL.
	redacted string
}

// defaultConfig returns a Config holding every default, before the URL is read.
func defaultConfig() *Config {
	return &Config{
		Scheme:            "redis",
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		DialTimeout:       DefaultDialTimeout,
		MinRetryBackoff:   DefaultMinRetryBackoff,
		MaxRetryBackoff:   DefaultMaxRetryBackoff,
		IORetries:         DefaultIORetries,
		WaitTimeout:       DefaultWaitTimeout,
		ClientCache:       true,
		ClientCacheSize:   DefaultClientCacheSize,
		ClientCacheTTL:    DefaultClientCacheTTL,
		PipelineMultiplex: DefaultPipelineMultiplex,
		DirectWhenAlone:   true,
		Protocol:          DefaultProtocol,
	}
}

// Redacted returns the meta URL with its password replaced by "****", for
// logs and error messages. For a Config from Parse it is the URL as the user
// wrote it (with "redis://" added if it had no scheme); for one built by hand
// it is an equivalent URL rebuilt from the fields. A password taken from the
// environment never appears.
func (c *Config) Redacted() string {
	if c.redacted != "" {
		return c.redacted
	}
	return c.build(false)
}

// String returns Redacted, so that printing a Config never shows a password.
func (c *Config) String() string { return c.Redacted() }

// KeyPrefix returns the prefix of every key of the volume: "{DB}" (a Redis
// Cluster hash tag, so that all keys share one slot) when the deployment is
// a cluster, "" otherwise. Pass cluster = true when the connection layer found
// that a single address is a Cluster node; a ModeCluster URL always gets the
// prefix, and Sentinel never does, exactly as in JuiceFS.
func (c *Config) KeyPrefix(cluster bool) string {
	if c.Mode == ModeSentinel || (!cluster && c.Mode != ModeCluster) {
		return ""
	}
	return "{" + strconv.Itoa(c.DB) + "}"
}
