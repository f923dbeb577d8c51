package metaurl

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// build writes a meta URL that Parse reads back into an equal Config (in an
// empty environment). The password is written only when withPassword is set;
// otherwise a non-empty one shows as "****".
func (c *Config) build(withPassword bool) string {
	var b strings.Builder
	b.WriteString(c.buildScheme())
	b.WriteString("://")
	if c.Username != "" || c.Password != "" {
		b.WriteString(escape(c.Username, ""))
		if c.Password != "" {
			b.WriteByte(':')
			if withPassword {
				b.WriteString(escape(c.Password, ""))
			} else {
				b.WriteString("****")
			}
		}
		b.WriteByte('@')
	}
	addrs := make([]string, len(c.Addrs))
	for i, a := range c.Addrs {
		addrs[i] = escapeZone(a)
	}
	switch c.Mode {
	case ModeUnix:
		b.WriteString(escape(c.SocketPath, "/"))
	case ModeSentinel:
		b.WriteString(escape(c.MasterName, ""))
		b.WriteByte(',')
		b.WriteString(strings.Join(addrs, ","))
	default:
		b.WriteString(strings.Join(addrs, ","))
	}
	if c.Mode != ModeUnix && c.DB != 0 {
		b.WriteString("/" + strconv.Itoa(c.DB))
	}
	if q := c.buildQuery(); q != "" {
		b.WriteString("?" + q)
	}
	return b.String()
}

// buildScheme returns c.Scheme when it agrees with TLS and Mode, else a
// scheme that does.
func (c *Config) buildScheme() string {
	if tls, ok := schemeTLS(c.Scheme); ok && tls == c.TLS && (c.Scheme == "unix") == (c.Mode == ModeUnix) {
		return c.Scheme
	}
	switch {
	case c.Mode == ModeUnix:
		return "unix"
	case c.TLS:
		return "rediss"
	}
	return "redis"
}

// buildQuery lists, in a fixed order, every option whose value differs from
// its default.
func (c *Config) buildQuery() string {
	var opts []string
	add := func(name, value string) {
		opts = append(opts, name+"="+url.QueryEscape(value))
	}
	dur := func(name string, d, def time.Duration) {
		if d != def {
			add(name, d.String())
		}
	}
	num := func(name string, n, def int) {
		if n != def {
			add(name, strconv.Itoa(n))
		}
	}
	str := func(name, v string) {
		if v != "" {
			add(name, v)
		}
	}
	if c.Mode == ModeUnix {
		num("db", c.DB, 0)
	}
	dur("read-timeout", c.ReadTimeout, DefaultReadTimeout)
	dur("write-timeout", c.WriteTimeout, DefaultWriteTimeout)
	dur("min-retry-backoff", c.MinRetryBackoff, DefaultMinRetryBackoff)
	dur("max-retry-backoff", c.MaxRetryBackoff, DefaultMaxRetryBackoff)
	dur("dial_timeout", c.DialTimeout, DefaultDialTimeout)
	num("io-retries", c.IORetries, DefaultIORetries)
	num("wait-replicas", c.WaitReplicas, 0)
	dur("wait-timeout", c.WaitTimeout, DefaultWaitTimeout)
	str("route-read", string(c.RouteRead))
	if c.InsecureSkipVerify {
		add("insecure-skip-verify", "true")
	}
	str("tls-cert-file", c.TLSCertFile)
	str("tls-key-file", c.TLSKeyFile)
	str("tls-ca-cert-file", c.TLSCAFile)
	str("tls-server-name", c.TLSServerName)
	if !c.ClientCache {
		add("client-cache", "false")
	}
	num("client-cache-size", c.ClientCacheSize, DefaultClientCacheSize)
	dur("client-cache-ttl", c.ClientCacheTTL, DefaultClientCacheTTL)
	num("client-cache-preload", c.ClientCachePreload, 0)
	num("pipeline-multiplex", c.PipelineMultiplex, DefaultPipelineMultiplex)
	dur("max-flush-delay", c.MaxFlushDelay, 0)
	num("ring-scale", c.RingScale, 0)
	if !c.DirectWhenAlone {
		add("direct-when-alone", "false")
	}
	str("client_name", c.ClientName)
	num("protocol", c.Protocol, DefaultProtocol)
	num("pool_size", c.PoolSize, 0)
	dur("conn_max_lifetime", c.ConnLifetime, 0)
	return strings.Join(opts, "&")
}

// escape percent-encodes every byte of s that is not unreserved in URLs
// and not in keep.
func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || isDigit(c) || strings.IndexByte("-._~", c) >= 0 || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// escapeZone writes the '%' that starts an IPv6 zone as "%25", as URLs need.
func escapeZone(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !strings.Contains(host, ":") {
		return addr
	}
	return "[" + strings.Replace(host, "%", "%25", 1) + "]:" + port
}
