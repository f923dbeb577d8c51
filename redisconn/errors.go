package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/metaurl"
)

func isAuthError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "NOAUTH") || strings.Contains(msg, "WRONGPASS") ||
		strings.Contains(msg, "invalid password") || strings.Contains(msg, "invalid username-password")
}

// isNotSentinel tells whether a server asked as a sentinel does not know
// SENTINEL: a Sentinel URL that names plain Redis servers.
func isNotSentinel(err error) bool {
	return strings.Contains(err.Error(), "unknown command 'SENTINEL'")
}

// checkSentinelAuth tells whether an authentication failure came from the
// sentinels rather than from the master: their credentials are not the
// URL's but SENTINEL_USERNAME and SENTINEL_PASSWORD, which the generic
// message would not mention.
func checkSentinelAuth(ctx context.Context, cfg *metaurl.Config, tlsConf *tls.Config) error {
	for _, addr := range cfg.Addrs {
		c, err := rueidis.NewClient(rueidis.ClientOption{
			InitAddress:       []string{addr},
			Username:          cfg.SentinelUsername,
			Password:          cfg.SentinelPassword,
			TLSConfig:         tlsConf,
			Dialer:            net.Dialer{Timeout: cfg.DialTimeout},
			ForceSingleClient: true,
			DisableCache:      true,
		})
		if err == nil {
			err = c.Do(ctx, c.B().Ping().Build()).Error()
			c.Close()
		}
		if err == nil {
			return nil // this sentinel accepts the credentials: the master refused
		}
		if isAuthError(err) {
			what := "no SENTINEL_PASSWORD is set"
			if cfg.SentinelPassword != "" {
				what = "SENTINEL_USERNAME/SENTINEL_PASSWORD are wrong"
			}
			return fmt.Errorf("connect to %s: sentinel %s refused the connection: it requires a password and %s (the URL's password is the master's): %w",
				cfg.Redacted(), addr, what, err)
		}
	}
	return nil
}

// describeDialError turns connection failures into one clear line.
func describeDialError(cfg *metaurl.Config, err error) error {
	where := cfg.Redacted()
	if tlsErr := describeTLSError(err); tlsErr != "" {
		return fmt.Errorf("connect to %s: %s: %w", where, tlsErr, oneLine{err})
	}
	err = oneLine{err}
	msg := err.Error()
	if cfg.TLS {
		switch {
		case cfg.TLSCertFile == "" && (strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF") || strings.Contains(msg, "broken pipe")):
			return fmt.Errorf("connect to %s: TLS: the server closed the connection; it may require a client certificate (set tls-cert-file and tls-key-file): %w", where, err)
		case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"):
			return fmt.Errorf("connect to %s: timed out; does the server speak TLS on this port? (use redis:// for a plain one): %w", where, err)
		}
	}
	switch {
	case !cfg.TLS && (strings.Contains(msg, "connection reset") || strings.HasSuffix(msg, "EOF")):
		return fmt.Errorf("connect to %s: the server closed the connection (if it speaks TLS only, use rediss://): %w", where, err)
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"),
		strings.Contains(msg, "invalid username-password"):
		return fmt.Errorf("connect to %s: authentication failed (wrong user name or password%s): %w", where, passwordOrigin(cfg), err)
	case strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("connect to %s: the server requires a password; put it in the URL or in META_PASSWORD: %w", where, err)
	case strings.Contains(msg, "NOPERM"):
		return fmt.Errorf("connect to %s: %s: %w", where, PermissionHint(err), err)
	case strings.Contains(msg, "DB index is out of range"), strings.Contains(msg, "invalid DB index"):
		return fmt.Errorf("connect to %s: database %d does not exist on this server: %w", where, cfg.DB, err)
	case strings.Contains(msg, "received unknown message type"):
		return fmt.Errorf("connect to %s: the server does not speak the Redis protocol (%s; another service on that port, or a proxy?): %w", where, notRedisReply(msg), err)
	case isNotSentinel(err):
		return fmt.Errorf("connect to %s: %s, but the servers are not sentinels (they do not know SENTINEL); for one server write redis://HOST:PORT/DB: %w", where, howRead(cfg), err)
	case strings.Contains(msg, "cluster support disabled"):
		return fmt.Errorf("connect to %s: %s, but the server is no Cluster node; for Sentinel put the master's name first (redis://MASTER,SENTINEL1,SENTINEL2/DB): %w", where, howRead(cfg), err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("connect to %s: connection refused (is redis-server running there?): %w", where, err)
	case strings.Contains(msg, "no such host"):
		return fmt.Errorf("connect to %s: unknown host: %w", where, err)
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"):
		return fmt.Errorf("connect to %s: timed out: %w", where, err)
	}
	return fmt.Errorf("connect to %s: %w", where, err)
}

// howRead says how the URL's hosts were understood.
func howRead(cfg *metaurl.Config) string {
	switch cfg.Mode {
	case metaurl.ModeSentinel:
		return fmt.Sprintf("the URL was read as Sentinel: master name %q, sentinels %s", cfg.MasterName, strings.Join(cfg.Addrs, ", "))
	case metaurl.ModeCluster:
		return fmt.Sprintf("the URL was read as a Redis Cluster (several addresses and no master name): seeds %s", strings.Join(cfg.Addrs, ", "))
	}
	return "the URL was read as one server at " + strings.Join(cfg.Addrs, ", ")
}

// notRedisReply describes the first byte a server that is not Redis
// answered with, from rueidis' "received unknown message type: N".
func notRedisReply(msg string) string {
	_, num, _ := strings.Cut(msg, "received unknown message type: ")
	end := strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		num = num[:end]
	}
	if n, err := strconv.Atoi(num); err == nil && n >= 0 && n < 128 {
		return fmt.Sprintf("it answered with %q", rune(n))
	}
	return "it answered with something else"
}

// passwordOrigin says where a password that did not come from the URL
// came from: a variable set long ago is easy to forget.
func passwordOrigin(cfg *metaurl.Config) string {
	switch cfg.PasswordSource {
	case "", "url":
		return ""
	case metaurl.EnvMetaPasswordFile:
		return "; the password was read from the file named by " + metaurl.EnvMetaPasswordFile
	}
	return "; the password came from the environment variable " + cfg.PasswordSource
}

// oneLine prints an error on one line (rueidis puts newlines in some of
// its messages); errors.Is and errors.As still see the original.
type oneLine struct{ err error }

func (o oneLine) Error() string { return strings.ReplaceAll(o.err.Error(), "\n", "; ") }

func (o oneLine) Unwrap() error { return o.err }

// describeTLSError explains a failed TLS handshake, or returns "".
func describeTLSError(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var notTLS tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA):
		return "TLS: the server's certificate is not signed by a trusted CA (set tls-ca-cert-file to the CA that signed it)"
	case errors.As(err, &hostname):
		return fmt.Sprintf("TLS: the server's certificate is not valid for %q (set tls-server-name to a name it is valid for)", hostname.Host)
	case errors.As(err, &invalid):
		return "TLS: the server's certificate is invalid (" + invalid.Error() + ")"
	case errors.As(err, &notTLS), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "TLS: the server does not speak TLS on this port (use redis:// instead of rediss://)"
	case strings.Contains(msg, "certificate required"):
		return "TLS: the server requires a client certificate (set tls-cert-file and tls-key-file)"
	case strings.Contains(msg, "tls: "):
		return "TLS handshake failed"
	}
	return ""
}

// PermissionHint explains a NOPERM error of Redis ACLs in one phrase that
// names what to grant, for example "the Redis user may not run CLIENT|TRACKING
// (grant +client|tracking; docs/deployments.md lists what the engine
// needs)". It returns "" for other errors.
func PermissionHint(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	i := strings.Index(msg, "NOPERM")
	if i < 0 {
		return ""
	}
	msg = msg[i:]
	const docs = "; docs/deployments.md lists what the engine needs"
	// Redis 7.0: "this user has no permissions to run the 'client|tracking'
	// command"; 7.2+: "User u has no permissions to run the 'get' command".
	if _, rest, ok := strings.Cut(msg, "to run the '"); ok {
		if cmd, _, ok := strings.Cut(rest, "'"); ok {
			return fmt.Sprintf("the Redis user may not run %s (grant +%s%s)", strings.ToUpper(cmd), strings.ToLower(cmd), docs)
		}
	}
	switch {
	case strings.Contains(msg, "key"):
		return "the Redis user may not access the volume's keys (grant ~* or, in a Cluster, ~{DB}* ~sessions" + docs + ")"
	case strings.Contains(msg, "channel"):
		return "the Redis user may not use a Pub/Sub channel (grant &*" + docs + ")"
	}
	return "the Redis user lacks a permission the engine needs (" + strings.TrimPrefix(docs, "; ") + ")"
}
