// Package redisconn turns a parsed meta URL into a live rueidis client: it
// picks the deployment (single server, unix socket, Sentinel, Cluster),
// builds TLS settings, wires the client-side cache store, and runs the
// server checks the official client runs at start (version, persistence,
// eviction policy).
//
// Every engine uses exactly one client per volume, with rueidis'
// auto-pipelining left on: commands issued concurrently by many goroutines
// share the connection and its flushes.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/metaurl"
)

// Options tune Dial.
type Options struct {
	// Logger receives the start-up warnings; nil discards them.
	Logger *slog.Logger
	// ReadOnly marks a client that never writes; only such clients may route
	// reads to replicas (route-read), as in JuiceFS.
	ReadOnly bool
	// SkipServerChecks skips INFO and the eviction-policy fix (tools that
	// only need a raw connection).
	SkipServerChecks bool
}

// Conn is a connected client and what was learnt while connecting.
type Conn struct {
	// Client is the rueidis client; use it from any goroutine.
	Client rueidis.Client
	// Cache holds the client-side cache statistics and local invalidation;
	// nil when caching is off.
	Cache *cachestore.Registry
	// Prefix is the key prefix: "{db}" in Cluster mode, "" otherwise.
	Prefix string
	// Cluster is true when the server turned out to be a Redis Cluster.
	Cluster bool
	// ServerVersion is redis_version from INFO.
	ServerVersion string
	// RESP3 is false when the server only speaks RESP2 (Redis 5).
	RESP3 bool
	// Config is the meta URL the connection was made from.
	Config *metaurl.Config
}

// Close closes the client.
func (c *Conn) Close() { c.Client.Close() }

// Dial connects according to cfg.
func Dial(ctx context.Context, cfg *metaurl.Config, opts Options) (*Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	cluster := cfg.Mode == metaurl.ModeCluster
	if cfg.Mode == metaurl.ModeSingle {
		if cluster, err = probeCluster(ctx, cfg, tlsConf); err != nil {
			return nil, err
		}
	}
	conn := &Conn{Config: cfg, Cluster: cluster, RESP3: cfg.Protocol != 2}
	if cluster {
		conn.Prefix = keyspace.ClusterPrefix(cfg.DB)
	}
	build := func(cache bool) (rueidis.ClientOption, *cachestore.Registry) {
		o := clientOption(cfg, tlsConf, cluster, opts.ReadOnly)
		if !cache {
			o.DisableCache = true
			return o, nil
		}
		reg := cachestore.NewRegistry(cfg.ClientCacheSize)
		o.NewCacheStoreFn = reg.NewStoreFn()
		return o, reg
	}
	wantCache := cfg.ClientCache && cfg.Protocol != 2
	o, reg := build(wantCache)
	client, err := rueidis.NewClient(o)
	if err != nil && wantCache && errors.Is(err, rueidis.ErrNoCache) {
		log.Warn("the Redis server speaks only RESP2: client-side caching is disabled")
		conn.RESP3 = false
		o, reg = build(false)
		client, err = rueidis.NewClient(o)
	}
	if err != nil {
		return nil, describeDialError(cfg, err)
	}
	conn.Client, conn.Cache = client, reg
	if cfg.Protocol == 2 && cfg.ClientCache {
		log.Warn("protocol=2 was requested: client-side caching needs RESP3 and is disabled")
	}
	if !opts.SkipServerChecks {
		if err := conn.checkServer(ctx, log); err != nil {
			client.Close()
			return nil, err
		}
	}
	return conn, nil
}

// probeCluster applies JuiceFS's detection rule to a single address: it is a
// cluster if CLUSTER INFO answers with cluster_state, or if the server
// refuses something because it is in cluster mode.
func probeCluster(ctx context.Context, cfg *metaurl.Config, tlsConf *tls.Config) (bool, error) {
	o := clientOption(cfg, tlsConf, false, false)
	o.ForceSingleClient = true
	o.DisableCache = true
	o.SelectDB = 0
	o.PipelineMultiplex = -1
	c, err := rueidis.NewClient(o)
	if err != nil {
		if strings.Contains(err.Error(), "cluster mode") {
			return true, nil
		}
		return false, describeDialError(cfg, err)
	}
	defer c.Close()
	info, err := c.Do(ctx, c.B().ClusterInfo().Build()).ToString()
	if err != nil {
		return strings.Contains(err.Error(), "cluster mode"), nil
	}
	return strings.Contains(info, "cluster_state:"), nil
}

func clientOption(cfg *metaurl.Config, tlsConf *tls.Config, cluster, readOnly bool) rueidis.ClientOption {
	o := rueidis.ClientOption{
		InitAddress:       cfg.Addrs,
		Username:          cfg.Username,
		Password:          cfg.Password,
		ClientName:        cfg.ClientName,
		TLSConfig:         tlsConf,
		Dialer:            net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: time.Second},
		ConnWriteTimeout:  max(cfg.ReadTimeout, cfg.WriteTimeout),
		MaxFlushDelay:     cfg.MaxFlushDelay,
		RingScaleEachConn: cfg.RingScale,
		BlockingPoolSize:  cfg.PoolSize,
		ConnLifetime:      cfg.ConnLifetime,
		AlwaysRESP2:       cfg.Protocol == 2,
		DisableRetry:      cfg.IORetries == 0,
		RetryDelay:        retryDelay(cfg),
	}
	switch {
	case cfg.PipelineMultiplex == 0:
		o.PipelineMultiplex = -1 // exactly one connection (rueidis reads 0 as "default")
	case cfg.PipelineMultiplex > 0:
		o.PipelineMultiplex = cfg.PipelineMultiplex
	}
	if !cluster {
		o.SelectDB = cfg.DB
	}
	switch cfg.Mode {
	case metaurl.ModeUnix:
		o.InitAddress = []string{cfg.SocketPath}
		o.ForceSingleClient = true
		o.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}
	case metaurl.ModeSentinel:
		o.Sentinel = rueidis.SentinelOption{
			MasterSet: cfg.MasterName,
			Username:  cfg.SentinelUsername,
			Password:  cfg.SentinelPassword,
			TLSConfig: tlsConf,
			Dialer:    o.Dialer,
		}
	case metaurl.ModeSingle:
		if !cluster {
			o.ForceSingleClient = true
		}
	}
	if readOnly && cfg.RouteRead != metaurl.RoutePrimary {
		applyRouteRead(&o, cfg, cluster)
	}
	return o
}

// applyRouteRead sends read-only commands to replicas (route-read), which the
// official client also does only for read-only clients.
func applyRouteRead(o *rueidis.ClientOption, cfg *metaurl.Config, cluster bool) {
	if cfg.Mode == metaurl.ModeSentinel && cfg.RouteRead == metaurl.RouteReplica {
		o.ReplicaOnly = true
		return
	}
	if !cluster {
		return
	}
	o.SendToReplicas = func(cmd rueidis.Completed) bool { return cmd.IsReadOnly() }
	switch cfg.RouteRead {
	case metaurl.RouteRandom:
		o.ReadNodeSelector = func(_ uint16, nodes []rueidis.NodeInfo) int {
			return int(time.Now().UnixNano() % int64(len(nodes)))
		}
	case metaurl.RouteLatency:
		// rueidis has no latency measurement: prefer the primary, which is
		// the lowest-latency choice on a healthy cluster.
		o.ReadNodeSelector = func(_ uint16, _ []rueidis.NodeInfo) int { return 0 }
	default: // replica
		o.ReadNodeSelector = func(_ uint16, nodes []rueidis.NodeInfo) int {
			if len(nodes) > 1 {
				return 1 + int(time.Now().UnixNano()%int64(len(nodes)-1))
			}
			return 0
		}
	}
}

// retryDelay is an exponential back-off between MinRetryBackoff and
// MaxRetryBackoff, giving up after IORetries attempts.
func retryDelay(cfg *metaurl.Config) rueidis.RetryDelayFn {
	return func(attempts int, _ rueidis.Completed, err error) time.Duration {
		if attempts >= cfg.IORetries {
			return -1
		}
		d := float64(cfg.MinRetryBackoff) * math.Pow(2, float64(attempts))
		if d > float64(cfg.MaxRetryBackoff) {
			d = float64(cfg.MaxRetryBackoff)
		}
		return time.Duration(d)
	}
}

func tlsConfig(cfg *metaurl.Config) (*tls.Config, error) {
	if !cfg.TLS {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		ServerName:         cfg.TLSServerName,
	}
	if c.ServerName == "" && len(cfg.Addrs) > 0 {
		// Like JuiceFS, verify each connection against the host it dials.
		if host, _, err := net.SplitHostPort(cfg.Addrs[0]); err == nil {
			c.ServerName = host
		}
	}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("meta URL option tls-ca-cert-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("meta URL option tls-ca-cert-file: %s holds no PEM certificate", cfg.TLSCAFile)
		}
		c.RootCAs = pool
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("meta URL options tls-cert-file/tls-key-file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// describeDialError turns connection failures into one clear line.
func describeDialError(cfg *metaurl.Config, err error) error {
	where := cfg.Redacted()
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"),
		strings.Contains(msg, "invalid username-password"):
		return fmt.Errorf("connect to %s: authentication failed (wrong user name or password): %w", where, err)
	case strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("connect to %s: the server requires a password; put it in the URL or in META_PASSWORD: %w", where, err)
	case strings.Contains(msg, "NOPERM"):
		return fmt.Errorf("connect to %s: the Redis user lacks a permission the engine needs (see docs/deployments.md): %w", where, err)
	case strings.Contains(msg, "DB index is out of range"), strings.Contains(msg, "invalid DB index"):
		return fmt.Errorf("connect to %s: database %d does not exist on this server: %w", where, cfg.DB, err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("connect to %s: connection refused (is redis-server running there?): %w", where, err)
	case strings.Contains(msg, "no such host"):
		return fmt.Errorf("connect to %s: unknown host: %w", where, err)
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"):
		return fmt.Errorf("connect to %s: timed out: %w", where, err)
	}
	return fmt.Errorf("connect to %s: %w", where, err)
}

// checkServer reads INFO and reacts as the official client does: Redis older
// than 4.0 is refused, missing AOF is a warning, and an eviction policy other
// than noeviction is switched to noeviction (keys of a file system must never
// be evicted).
func (c *Conn) checkServer(ctx context.Context, log *slog.Logger) error {
	start := time.Now()
	if err := c.Client.Do(ctx, c.Client.B().Ping().Build()).Error(); err != nil {
		return describeDialError(c.Config, err)
	}
	log.Info(fmt.Sprintf("Ping redis latency: %s", time.Since(start)))
	info, err := c.Client.Do(ctx, c.Client.B().Info().Build()).ToString()
	if err != nil {
		log.Warn(fmt.Sprintf("INFO: %v", err))
		return nil
	}
	fields := parseInfo(info)
	c.ServerVersion = fields["redis_version"]
	if major, ok := versionMajor(c.ServerVersion); ok && major < 4 {
		return fmt.Errorf("the server at %s runs Redis %s, which is too old: rueidisfs needs Redis 4.0 or newer (6.0+ for client-side caching)", c.Config.Redacted(), c.ServerVersion)
	}
	if fields["aof_enabled"] == "0" {
		log.Warn("AOF is not enabled, you may lose data if Redis is not shutdown properly.")
	}
	if policy := fields["maxmemory_policy"]; policy != "" && policy != "noeviction" && fields["storage_provider"] != "flash" {
		err := c.Client.Do(ctx, c.Client.B().ConfigSet().ParameterValue().ParameterValue("maxmemory-policy", "noeviction").Build()).Error()
		if err != nil {
			log.Warn(fmt.Sprintf("maxmemory_policy is %q, so Redis may evict metadata; setting it to noeviction failed: %v", policy, err))
		} else {
			log.Info(fmt.Sprintf("maxmemory_policy was %q; changed it to noeviction", policy))
		}
	}
	return nil
}

func parseInfo(info string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

func versionMajor(v string) (int, bool) {
	s, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(s)
	return n, err == nil
}
