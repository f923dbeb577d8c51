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
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/internal/smallfile"
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
	// Clock is the clock of the client-side cache's change times
	// (default: the system's monotonic clock).
	Clock func() time.Time
}

// ClusterRefreshInterval is how often a Cluster client re-reads the
// cluster's topology in the background.
const ClusterRefreshInterval = 10 * time.Second

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
	// Failover tells writers when a Sentinel failover may be changing the
	// master (see Failover); nil except for writable Sentinel clients.
	Failover *Failover
}

// Close closes the client.
func (c *Conn) Close() { c.Client.Close() }

// Dial connects according to cfg.
func Dial(ctx context.Context, cfg *metaurl.Config, opts Options) (*Conn, error) {
	d := &dialer{cfg: cfg, opts: opts, log: opts.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if d.tls, err = tlsConfig(cfg); err != nil {
		return nil, err
	}
	if err := d.topology(ctx); err != nil {
		return nil, err
	}
	conn := &Conn{Config: cfg, Cluster: d.cluster, RESP3: cfg.Protocol != 2}
	if d.cluster {
		conn.Prefix = keyspace.ClusterPrefix(cfg.DB)
	}
	if err := d.connect(ctx, conn); err != nil {
		return nil, err
	}
	if err := d.checkCaching(ctx, conn); err != nil {
		return nil, err
	}
	if cfg.Protocol == 2 && cfg.ClientCache {
		d.log.Warn("protocol=2 was requested: client-side caching needs RESP3 and is disabled")
	}
	if !opts.SkipServerChecks {
		if err := conn.checkServer(ctx, d.log); err != nil {
			conn.Client.Close()
			return nil, err
		}
	}
	return conn, nil
}

// dialer is one Dial: its settings and what it learnt on the way.
type dialer struct {
	cfg     *metaurl.Config
	opts    Options
	log     *slog.Logger
	tls     *tls.Config
	cluster bool
	seeds   []string // the addresses to start from, when not cfg.Addrs
	// failover is the Failover of the last Sentinel client made.
	failover *Failover
}

// topology finds out whether the server is a Cluster (a single-server URL
// may name a node of one) and which nodes to start from.
func (d *dialer) topology(ctx context.Context) error {
	cfg := d.cfg
	d.cluster = cfg.Mode == metaurl.ModeCluster
	if cfg.Mode == metaurl.ModeSingle {
		var err error
		if d.cluster, err = probeCluster(ctx, cfg, d.tls); err != nil {
			return err
		}
	}
	if d.cluster && d.opts.ReadOnly && cfg.RouteRead != metaurl.RoutePrimary {
		// rueidis dials every seed with the options of a primary connection
		// (no READONLY) and later reuses those connections for the seeds
		// that are replicas, which then answer reads with MOVED: start from
		// the masters only, so that replicas are dialled as replicas.
		var err error
		if d.seeds, err = clusterMasters(ctx, cfg, d.tls); err != nil {
			return describeDialError(cfg, err)
		}
	}
	return nil
}

// client makes a rueidis client, with a client-side cache (and its
// registry) or without.
func (d *dialer) client(cache bool) (rueidis.Client, *cachestore.Registry, error) {
	o := clientOption(d.cfg, d.tls, d.cluster, d.opts.ReadOnly)
	if len(d.seeds) > 0 {
		o.InitAddress = d.seeds
	}
	var reg *cachestore.Registry
	if cache {
		reg = cachestore.NewRegistryClock(d.cfg.ClientCacheSize, d.opts.Clock)
		o.NewCacheStoreFn = reg.NewStoreFn()
	} else {
		o.DisableCache = true
	}
	var c rueidis.Client
	var err error
	if d.cfg.Mode == metaurl.ModeSentinel && !o.ReplicaOnly {
		var fo *Failover
		if c, fo, err = dialSentinel(context.Background(), d.cfg, o, d.log); err == nil {
			d.failover = fo
		}
	} else {
		c, err = rueidis.NewClient(o)
	}
	if err != nil {
		return nil, nil, err
	}
	if o.DisableAutoPipelining {
		c = &idleSync{Client: c}
	}
	return c, reg, nil
}

// connect makes conn's client: with the client-side cache when the URL
// asks for it and the server allows it, without it otherwise.
func (d *dialer) connect(ctx context.Context, conn *Conn) error {
	cfg := d.cfg
	wantCache := cfg.ClientCache && cfg.Protocol != 2
	client, reg, err := d.client(wantCache)
	if err != nil && wantCache && errors.Is(err, rueidis.ErrNoCache) {
		if hint := PermissionHint(err); hint != "" {
			// CLIENT TRACKING denied by an ACL: work without the cache.
			d.log.Warn(hint + ": client-side caching is disabled")
		} else {
			d.log.Warn("the Redis server speaks only RESP2: client-side caching is disabled")
			conn.RESP3 = false
		}
		client, reg, err = d.client(false)
	}
	if err != nil {
		if cfg.Mode == metaurl.ModeSentinel && isAuthError(err) {
			if serr := checkSentinelAuth(ctx, cfg, d.tls); serr != nil {
				return serr
			}
		}
		return describeDialError(cfg, err)
	}
	conn.Client, conn.Cache, conn.Failover = client, reg, d.failover
	return nil
}

// checkCaching turns the client-side cache off when the server would not
// track what it caches: an ACL user allowed CLIENT TRACKING but not CLIENT
// CACHING would cache values without Redis tracking them (stale reads,
// silently).
func (d *dialer) checkCaching(ctx context.Context, conn *Conn) error {
	if conn.Cache == nil {
		return nil
	}
	probe := conn.Client.B().ClientCaching().Yes().Build().ToPipe() // the tracking connection
	if conn.Prefix != "" {
		probe = probe.SetSlot(conn.Prefix)
	}
	hint := PermissionHint(conn.Client.Do(ctx, probe).Error())
	if hint == "" {
		return nil
	}
	d.log.Warn(hint + ": client-side caching is disabled")
	conn.Client.Close()
	client, _, err := d.client(false)
	if err != nil {
		return describeDialError(d.cfg, err)
	}
	conn.Client, conn.Cache, conn.Failover = client, nil, d.failover
	return nil
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
		// Commands then go through the pipeline only when marked so: the
		// client is wrapped in an idleSync, which marks them. Not on a
		// Cluster: there rueidis (v1.0.79) sends a cached read redirected
		// by ASK (a slot being migrated) to its pool when auto-pipelining
		// is off, on a connection that cannot carry it, and panics.
		DisableAutoPipelining: cfg.DirectWhenAlone && !cluster,
	}
	switch {
	case cfg.PipelineMultiplex == 0:
		o.PipelineMultiplex = -1 // exactly one connection (rueidis reads 0 as "default")
	case cfg.PipelineMultiplex > 0:
		o.PipelineMultiplex = cfg.PipelineMultiplex
	}
	if !cluster {
		o.SelectDB = cfg.DB
	} else {
		// rueidis otherwise re-reads the topology only after an error or a
		// MOVED reply. Redis 7.0 leaves a replica out of CLUSTER SLOTS until
		// it has replicated something, so a client started next to a fresh
		// replica would never route reads to it (route-read).
		o.ClusterOption.ShardsRefreshInterval = ClusterRefreshInterval
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
// MaxRetryBackoff, giving up after IORetries attempts. rueidis asks it only
// for commands it may send twice (reads); mutations are retried by the
// engine, which knows whether a script ran.
//
// A read-only script answered TRYAGAIN is not retried: that happens while
// the volume's slot migrates between Cluster nodes, for as long as the
// migration lasts, and the engine's only such script (path resolution) has a
// fallback made of single-key reads, which Redis serves during a migration.
func retryDelay(cfg *metaurl.Config) rueidis.RetryDelayFn {
	return func(attempts int, cmd rueidis.Completed, err error) time.Duration {
		if attempts >= cfg.IORetries {
			return -1
		}
		if rerr, ok := rueidis.IsRedisErr(err); ok && rerr.IsTryAgain() && isScript(cmd) {
			return -1
		}
		return Backoff(cfg, attempts)
	}
}

// Backoff is the pause before retry number attempts+1 (attempts counts from
// 0): MinRetryBackoff doubled at every attempt, capped at MaxRetryBackoff.
func Backoff(cfg *metaurl.Config, attempts int) time.Duration {
	d := float64(cfg.MinRetryBackoff) * math.Pow(2, float64(attempts))
	if d > float64(cfg.MaxRetryBackoff) {
		d = float64(cfg.MaxRetryBackoff)
	}
	return time.Duration(d)
}

func isScript(cmd rueidis.Completed) bool {
	if c := cmd.Commands(); len(c) > 0 {
		switch strings.ToUpper(c[0]) {
		case "EVALSHA_RO", "EVAL_RO", "EVALSHA", "EVAL", "FCALL", "FCALL_RO":
			return true
		}
	}
	return false
}

func tlsConfig(cfg *metaurl.Config) (*tls.Config, error) {
	if !cfg.TLS {
		return nil, nil
	}
	// Without tls-server-name, ServerName stays empty so that each
	// connection verifies the host it dials (crypto/tls fills it in), as
	// JuiceFS does: Cluster nodes and the master found through Sentinel are
	// other hosts than the first address of the URL.
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		ServerName:         cfg.TLSServerName,
	}
	if cfg.TLSCAFile != "" {
		pem, err := smallfile.Read(cfg.TLSCAFile, smallfile.Certs)
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

// checkServer reads INFO and reacts as the official client does: Redis older
// than 4.0 is refused, missing AOF is a warning, and an eviction policy other
// than noeviction is switched to noeviction (keys of a file system must never
// be evicted).
func (c *Conn) checkServer(ctx context.Context, log *slog.Logger) error {
	start := time.Now()
	if err := c.Client.Do(ctx, c.toVolume(c.Client.B().Ping().Build())).Error(); err != nil {
		return describeDialError(c.Config, err)
	}
	log.Info(fmt.Sprintf("Ping redis latency: %s", time.Since(start)))
	info, err := c.Client.Do(ctx, c.toVolume(c.Client.B().Info().Build())).ToString()
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
		err := c.Client.Do(ctx, c.toVolume(c.Client.B().ConfigSet().ParameterValue().ParameterValue("maxmemory-policy", "noeviction").Build())).Error()
		if err != nil {
			log.Warn(fmt.Sprintf("maxmemory_policy is %q, so Redis may evict metadata; setting it to noeviction failed: %v", policy, err))
		} else {
			log.Info(fmt.Sprintf("maxmemory_policy was %q; changed it to noeviction", policy))
		}
	}
	return nil
}

// toVolume routes a keyless command of the connection checks, in a Cluster,
// to the master serving the volume's slot: the server whose settings
// matter, and a live one (rueidis sends keyless commands to any node it
// knows, a dead seed of the URL included).
func (c *Conn) toVolume(cmd rueidis.Completed) rueidis.Completed {
	if c.Prefix != "" {
		cmd = cmd.SetSlot(c.Prefix)
	}
	return cmd
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
