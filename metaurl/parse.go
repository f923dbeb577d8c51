package metaurl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// schemeTLS reports whether scheme is accepted and whether it asks for TLS.
func schemeTLS(scheme string) (tls, ok bool) {
	switch scheme {
	case "redis", "rueidis", "unix":
		return false, true
	case "rediss", "ruediss", "rueidiss":
		return true, true
	}
	return false, false
}

const schemeList = "redis://, rediss://, rueidis://, ruediss:// (alias rueidiss://) or unix://"

// encodingHint is appended to errors that a badly escaped password can cause.
const encodingHint = "; if the password contains '/', '?', '#' or '@', percent-encode them as %2F, %3F, %23, %40"

// Parse reads a meta URL. getenv looks up environment variables (pass
// os.Getenv; nil means an empty environment). It returns the configuration,
// the warnings the caller should log (unknown options, options without effect
// under rueidis, JuiceFS quirks not reproduced), and an error when the URL
// cannot be used. Error messages start with "meta URL" and never contain the
// password.
func Parse(raw string, getenv func(string) string) (*Config, []string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	p := &parser{getenv: getenv}
	cfg, err := p.parse(raw)
	if err != nil {
		return nil, p.warnings, err
	}
	return cfg, p.warnings, nil
}

// parser holds the state of one Parse call.
type parser struct {
	getenv   func(string) string
	warnings []string
	// errURL is the URL as shown in error messages: masked generously, since
	// a mis-escaped password may sit anywhere before the last '@'.
	errURL string
	// misplacedAt is set when an '@' follows the authority, the sign of a
	// password with an unescaped '/' or '?': address errors then show a hint
	// instead of details that could be pieces of the password.
	misplacedAt bool
}

func (p *parser) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// errorf builds an error about the URL.
func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("meta URL %q: %s", p.errURL, fmt.Sprintf(format, args...))
}

// addrErrorf builds an error about the address or path, where the details
// may be pieces of a mis-escaped password.
func (p *parser) addrErrorf(format string, args ...any) error {
	if p.misplacedAt {
		return p.errorf("cannot parse the address%s", encodingHint)
	}
	return p.errorf(format, args...)
}

// parts is a meta URL cut into its components; nothing is unescaped yet.
type parts struct {
	scheme   string
	userinfo string
	hasUser  bool
	host     string
	path     string
	query    string
	redacted string
}

func (p *parser) parse(raw string) (*Config, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("meta URL is empty; give one like redis://localhost:6379/1")
	}
	if !strings.Contains(raw, "://") {
		raw = "redis://" + raw
	}
	p.errURL = redactLoose(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] == 0x7f {
			return nil, p.errorf("contains the control character 0x%02x", raw[i])
		}
	}
	pt, err := p.split(raw)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	cfg.Scheme = pt.scheme
	cfg.TLS, _ = schemeTLS(pt.scheme)
	cfg.redacted = pt.redacted
	if err := p.userinfo(cfg, pt); err != nil {
		return nil, err
	}
	if pt.scheme == "unix" {
		err = p.unixAddress(cfg, pt)
	} else {
		err = p.tcpAddress(cfg, pt)
	}
	if err != nil {
		return nil, err
	}
	q, err := p.parseQuery(pt.query)
	if err != nil {
		return nil, err
	}
	if err := p.options(cfg, q); err != nil {
		return nil, err
	}
	if err := p.credentials(cfg); err != nil {
		return nil, err
	}
	if err := p.envOverrides(cfg); err != nil {
		return nil, err
	}
	p.reconcile(cfg)
	return cfg, nil
}

// split cuts the URL the way Go's net/url (and so JuiceFS) does: the query
// starts at the first '?', the authority ends at the first '/' after "://",
// and the user information ends at the authority's last '@'.
func (p *parser) split(raw string) (parts, error) {
	i := strings.Index(raw, "://")
	scheme := strings.ToLower(raw[:i])
	if !isSchemeToken(scheme) {
		return parts{}, p.errorf(`the text before the first "://" is not a scheme; start the URL with %s`, schemeList)
	}
	if _, ok := schemeTLS(scheme); !ok {
		return parts{}, p.errorf("unsupported scheme %q; use %s", scheme, schemeList)
	}
	start := i + 3
	rest := raw[start:]
	if strings.Contains(rest, "#") {
		return parts{}, p.errorf("'#' is not allowed (it would start a URL fragment); write a '#' in a password as %%23")
	}
	pt := parts{scheme: scheme}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest, pt.query = rest[:q], rest[q+1:]
	}
	authority := rest
	if s := strings.IndexByte(rest, '/'); s >= 0 {
		authority, pt.path = rest[:s], rest[s:]
	}
	pt.host = authority
	pt.redacted = raw
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		pt.hasUser = true
		pt.userinfo, pt.host = authority[:at], authority[at+1:]
		if c := strings.IndexByte(pt.userinfo, ':'); c >= 0 && c+1 < at {
			pt.redacted = raw[:start+c+1] + "****" + raw[start+at:]
		}
	}
	p.misplacedAt = strings.Contains(pt.path, "@") || strings.Contains(pt.query, "@")
	if p.misplacedAt && !pt.hasUser {
		p.warnf("meta URL has an '@' after the host but no user part before it%s", encodingHint)
	}
	return pt, nil
}

// isSchemeToken reports whether s has the syntax of a URL scheme.
func isSchemeToken(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// redactLoose masks everything between the first ':' after the scheme and the
// last '@' of the URL. It is used for error messages, when the URL may be too
// broken to locate the password exactly; it can mask more than the password
// (an '@' in a query value), never less.
func redactLoose(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && isSchemeToken(s[:i]) {
		start = i + 3
	}
	rest := s[start:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	c := strings.IndexByte(rest[:at], ':')
	if c < 0 {
		return s
	}
	return s[:start+c+1] + "****" + s[start+at:]
}

// userinfo decodes the user name and password.
func (p *parser) userinfo(cfg *Config, pt parts) error {
	if !pt.hasUser {
		return nil
	}
	user, pass, hasPass := strings.Cut(pt.userinfo, ":")
	var err error
	if cfg.Username, err = url.PathUnescape(user); err != nil {
		return p.errorf("bad percent-encoding in the user name; write '%%' as %%25")
	}
	if hasPass {
		if cfg.Password, err = url.PathUnescape(pass); err != nil {
			return p.errorf("bad percent-encoding in the password; write '%%' as %%25")
		}
		if cfg.Password != "" {
			cfg.PasswordSource = "url"
		}
	}
	return nil
}

// unixAddress reads unix://[userinfo@]/path/to/socket.
func (p *parser) unixAddress(cfg *Config, pt parts) error {
	cfg.Mode = ModeUnix
	if pt.host != "" {
		return p.addrErrorf("a unix socket URL takes no host (%q); write unix:///path/to/socket, with three slashes", pt.host)
	}
	path, err := url.PathUnescape(pt.path)
	if err != nil {
		return p.addrErrorf("bad percent-encoding in the socket path")
	}
	if path == "" || path == "/" {
		return p.addrErrorf("no socket path; write unix:///path/to/socket")
	}
	cfg.SocketPath = path
	return nil
}

// tcpAddress reads the host part and the database number of a TCP URL.
func (p *parser) tcpAddress(cfg *Config, pt parts) error {
	if err := p.pathDB(cfg, pt.path); err != nil {
		return err
	}
	hosts := pt.host
	comma, colon := strings.IndexByte(hosts, ','), strings.IndexByte(hosts, ':')
	switch {
	case comma < 0:
		cfg.Mode = ModeSingle
		addr, err := p.hostPort(hosts, strconv.Itoa(DefaultPort), true)
		if err != nil {
			return err
		}
		cfg.Addrs = []string{addr}
	case colon < 0 || comma < colon:
		return p.sentinel(cfg, hosts)
	default:
		cfg.Mode = ModeCluster
		elems := strings.Split(hosts, ",")
		for _, e := range elems {
			if e == "" {
				return p.addrErrorf("empty address in host list %q", hosts)
			}
			addr, err := p.hostPort(e, strconv.Itoa(DefaultPort), false)
			if err != nil {
				return err
			}
			cfg.Addrs = append(cfg.Addrs, addr)
		}
	}
	return nil
}

// sentinel reads "master,addr[:port],...": the port of the last address (or
// 26379) applies to every address written without one.
func (p *parser) sentinel(cfg *Config, hosts string) error {
	cfg.Mode = ModeSentinel
	elems := strings.Split(hosts, ",")
	master, err := url.PathUnescape(elems[0])
	if err != nil {
		return p.addrErrorf("bad percent-encoding in the Sentinel master name %q", elems[0])
	}
	if master == "" {
		return p.addrErrorf("empty Sentinel master name before the first comma; write master,sentinel1,sentinel2:26379")
	}
	if strings.IndexFunc(master, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return p.addrErrorf("the Sentinel master name contains a space or a control character")
	}
	cfg.MasterName = master
	sentinels := elems[1:]
	for _, e := range sentinels {
		if e == "" {
			return p.addrErrorf("empty address in host list %q", hosts)
		}
	}
	port := strconv.Itoa(DefaultSentinelPort)
	if _, last, err := p.splitHostPort(sentinels[len(sentinels)-1]); err != nil {
		return err
	} else if last != "" {
		port = last
	}
	for _, e := range sentinels {
		addr, err := p.hostPort(e, port, false)
		if err != nil {
			return err
		}
		cfg.Addrs = append(cfg.Addrs, addr)
	}
	return nil
}

// pathDB reads the database number from the path; like go-redis, empty
// segments are ignored.
func (p *parser) pathDB(cfg *Config, rawPath string) error {
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return p.addrErrorf("bad percent-encoding in the path %q", rawPath)
	}
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	switch len(segs) {
	case 0:
		return nil
	case 1:
		db, ok := parseDB(segs[0])
		if !ok {
			return p.addrErrorf("database number %q in the path is not a non-negative integer", segs[0])
		}
		cfg.DB = db
		return nil
	}
	return p.addrErrorf("path %q has more than one segment; it may only hold the database number, as in redis://host:6379/1", path)
}

// parseDB accepts decimal digits that fit in an int32.
func parseDB(s string) (int, bool) {
	if s == "" || !allDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err == nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// splitHostPort splits "host[:port]" or "[ipv6][:port]"; port is "" when
// absent. The host is validated.
func (p *parser) splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", p.addrErrorf("missing ']' after IPv6 address %q", s)
		}
		host, after := s[1:end], s[end+1:]
		switch {
		case after == "":
		case after[0] == ':':
			port = after[1:]
		default:
			return "", "", p.addrErrorf("unexpected %q after IPv6 address %q", after, s[:end+1])
		}
		host = strings.Replace(host, "%25", "%", 1)
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || badHostChar(ip.Zone()) >= 0 {
			return "", "", p.addrErrorf("%q is not an IPv6 address", s[:end+1])
		}
		return host, port, p.checkPort(port)
	}
	switch strings.Count(s, ":") {
	case 0:
		host = s
	case 1:
		host, port, _ = strings.Cut(s, ":")
	default:
		return "", "", p.addrErrorf("IPv6 address %q must be written in brackets, as in [::1]:6379", s)
	}
	if i := badHostChar(host); i >= 0 {
		return "", "", p.addrErrorf("host %q contains %q, which is not allowed in a host name", host, host[i:i+1])
	}
	return host, port, p.checkPort(port)
}

// isHostRune accepts the characters of host names (and IPv6 zones) that need
// no escaping in a URL, plus any non-ASCII character.
func isHostRune(r rune) bool {
	return r >= 0x80 || isLetter(byte(r)) || isDigit(byte(r)) || strings.ContainsRune("-._~", r)
}

// badHostChar returns the index of the first byte of s that isHostRune
// refuses, or -1.
func badHostChar(s string) int {
	return strings.IndexFunc(s, func(r rune) bool { return !isHostRune(r) })
}

// checkPort accepts "" (no port) or a decimal number in 1..65535.
func (p *parser) checkPort(port string) error {
	if port == "" {
		return nil
	}
	if !allDigits(port) {
		return p.addrErrorf("port %q is not a number", port)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return p.addrErrorf("port %s out of range 1-65535", port)
	}
	return nil
}

// hostPort validates one address and returns it as "host:port", using
// defPort when it has none. An empty host means localhost only when
// emptyIsLocal is set (the single-server form, as in go-redis).
func (p *parser) hostPort(s, defPort string, emptyIsLocal bool) (string, error) {
	host, port, err := p.splitHostPort(s)
	if err != nil {
		return "", err
	}
	if host == "" {
		if !emptyIsLocal {
			return "", p.addrErrorf("address %q has no host", s)
		}
		host = "localhost"
	}
	if port == "" {
		port = defPort
	}
	return net.JoinHostPort(host, normalizePort(port)), nil
}

// normalizePort drops leading zeros ("06379" → "6379").
func normalizePort(port string) string {
	n, _ := strconv.Atoi(port)
	return strconv.Itoa(n)
}
