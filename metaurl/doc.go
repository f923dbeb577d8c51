// Package metaurl parses a JuiceFS-style Redis meta URL into a [Config].
//
// A meta URL names the Redis deployment that holds a volume's metadata and
// tunes the client that talks to it. JuiceFS 1.4.1 accepts four address forms,
// and rueidisfs reads them the same way:
//
//	redis://[user[:password]@]host[:port][/db]                  one server (maybe a Cluster node)
//	redis://[user[:password]@]master,sentinel[:port],...[/db]   Redis Sentinel
//	redis://[user[:password]@]host:port,host:port,...[/db]      Redis Cluster seeds
//	unix://[user[:password]@]/path/to/socket[?db=N]             unix socket
//
// The form is chosen from the host part: with a comma before the first colon
// it is Sentinel (the first element is the master name), with a comma after
// it, Cluster. A single address may still turn out to be a Cluster node; only
// the connection layer can tell, so such URLs parse to [ModeSingle].
//
// The schemes rediss:// and ruediss:// (also spelled rueidiss://) ask for TLS;
// rueidis:// is a synonym of redis://. A URL without "://" is read as if it
// started with redis://, as JuiceFS does.
//
// Query options tune timeouts, TLS, client-side caching and rueidis
// pipelining; docs/meta-url.md lists them all. Options JuiceFS understands keep
// JuiceFS's meaning and defaults; options of the go-redis client that have no
// rueidis counterpart are accepted with a warning, and unknown options are
// reported as warnings, never as errors, so a URL written for the official
// client parses here too; docs/meta-url.md lists the few exceptions, all of
// them URLs that are probably mistakes.
//
// Parse is pure: it reads the environment only through the function it is
// given, and the file system only for META_PASSWORD_FILE. It never dials.
package metaurl
