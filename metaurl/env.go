package metaurl

import (
	"strconv"
	"strings"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/smallfile"
)

// Environment variables read by Parse.
const (
	// EnvRedisPassword is the first fallback for a URL without a password.
	EnvRedisPassword = "REDIS_PASSWORD"
	// EnvMetaPassword is the second fallback.
	EnvMetaPassword = "META_PASSWORD"
	// EnvMetaPasswordFile names a file whose content (whitespace trimmed) is
	// the third fallback.
	EnvMetaPasswordFile = "META_PASSWORD_FILE"
	// EnvSentinelPassword is the password of the sentinels themselves.
	EnvSentinelPassword = "SENTINEL_PASSWORD"
	// EnvSentinelUsername is the ACL user of the sentinels (rueidisfs only).
	EnvSentinelUsername = "SENTINEL_USERNAME"

	// EnvClientCache turns client-side caching on (1/true/on/yes) or off
	// (0/false/off/no) whatever the URL says: the kill switch.
	EnvClientCache = "RUEIDISFS_CLIENT_CACHE"
	// EnvClientCacheSize overrides client-cache-size.
	EnvClientCacheSize = "RUEIDISFS_CLIENT_CACHE_SIZE"
	// EnvClientCacheTTL overrides client-cache-ttl.
	EnvClientCacheTTL = "RUEIDISFS_CLIENT_CACHE_TTL"
	// EnvPipelineMultiplex overrides pipeline-multiplex.
	EnvPipelineMultiplex = "RUEIDISFS_PIPELINE_MULTIPLEX"
	// EnvMaxFlushDelay overrides max-flush-delay.
	EnvMaxFlushDelay = "RUEIDISFS_MAX_FLUSH_DELAY"
	// EnvDirectWhenAlone overrides direct-when-alone.
	EnvDirectWhenAlone = "RUEIDISFS_DIRECT_WHEN_ALONE"
)

// credentials fills the password from the environment when the URL has
// none, in JuiceFS's order, and the Sentinel credentials.
func (p *parser) credentials(cfg *Config) error {
	if cfg.Password == "" {
		for _, name := range []string{EnvRedisPassword, EnvMetaPassword} {
			if v := p.getenv(name); v != "" {
				cfg.Password, cfg.PasswordSource = v, name
				break
			}
		}
	}
	if cfg.Password == "" {
		if file := p.getenv(EnvMetaPasswordFile); file != "" {
			b, err := smallfile.Read(file, smallfile.Secret)
			if err != nil {
				return p.errorf("cannot read the password file named by %s: %v; fix the path or unset %s", EnvMetaPasswordFile, err, EnvMetaPasswordFile)
			}
			if pw := strings.TrimSpace(string(b)); pw != "" {
				cfg.Password, cfg.PasswordSource = pw, EnvMetaPasswordFile
			}
		}
	}
	if cfg.Mode == ModeSentinel {
		cfg.SentinelUsername = p.getenv(EnvSentinelUsername)
		cfg.SentinelPassword = p.getenv(EnvSentinelPassword)
	}
	return nil
}

// envOverrides applies the RUEIDISFS_* variables, which win over the URL.
func (p *parser) envOverrides(cfg *Config) error {
	if v := p.getenv(EnvClientCache); v != "" {
		on, ok := parseBoolWord(v)
		if !ok {
			return p.envError(EnvClientCache, v, "is not a boolean; use 0/false/off to disable or 1/true/on to enable client-side caching")
		}
		cfg.ClientCache = on
	}
	if v := p.getenv(EnvClientCacheSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxInt32 {
			return p.envError(EnvClientCacheSize, v, "is not an integer greater than 0")
		}
		cfg.ClientCacheSize = n
	}
	if v := p.getenv(EnvClientCacheTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return p.envError(EnvClientCacheTTL, v, "is not a positive duration with a unit, like \"1h\" or \"30s\"")
		}
		cfg.ClientCacheTTL = d
	}
	if v := p.getenv(EnvPipelineMultiplex); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 || n > MaxPipelineMultiplex {
			return p.envError(EnvPipelineMultiplex, v, "is not an integer from 0 to 8 (or -1 for the rueidis default)")
		}
		cfg.PipelineMultiplex = n
	}
	if v := p.getenv(EnvMaxFlushDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return p.envError(EnvMaxFlushDelay, v, "is not a duration of 0 or more with a unit, like \"20us\"")
		}
		cfg.MaxFlushDelay = d
	}
	if v := p.getenv(EnvDirectWhenAlone); v != "" {
		on, ok := parseBoolWord(v)
		if !ok {
			return p.envError(EnvDirectWhenAlone, v, "is not a boolean (1/true/on/yes or 0/false/off/no)")
		}
		cfg.DirectWhenAlone = on
	}
	return nil
}

func (p *parser) envError(name, value, problem string) error {
	return p.errorf("environment variable %s=%q %s", name, value, problem)
}
