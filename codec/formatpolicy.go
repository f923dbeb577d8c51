package codec

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
)

// Format policy: what a volume's format allows and requires, shared by
// everything that creates, changes, loads or checks volumes (the engine,
// the format, config and load commands).

// Minimum client versions a volume requires for its features, as JuiceFS
// 1.4.1 sets them.
const (
	MinClientBase     = "1.1.0-A"
	MinClientACL      = "1.2.0-A"
	MinClientRanger   = "1.3.0-A"
	MinClientKerberos = "1.4.0-A"
)

// Block sizes a volume may have, in KiB (Format.BlockSize): a power of two
// from 64 KiB to 16 MiB, as JuiceFS's format command sets them.
const (
	MinBlockSizeKiB = 64
	MaxBlockSizeKiB = 16 << 10
)

// Validate checks the fields every client relies on, so that a damaged or
// hand-made format is refused before anything trusts it (a block size of
// 0 divides by zero and makes gc take live blocks for leaked ones): the
// name and UUID are set, the block size is one a volume can have, the
// trash days, shards and compression are valid.
func (f *Format) Validate() error {
	switch {
	case f.Name == "":
		return fmt.Errorf("the volume has no name")
	case f.UUID == "":
		return fmt.Errorf("volume %s has no UUID", f.Name)
	case f.BlockSize < MinBlockSizeKiB || f.BlockSize > MaxBlockSizeKiB || f.BlockSize&(f.BlockSize-1) != 0:
		return fmt.Errorf("block size %d KiB is not a power of two from %d to %d KiB", f.BlockSize, MinBlockSizeKiB, MaxBlockSizeKiB)
	case f.TrashDays < 0:
		return fmt.Errorf("trash days %d is negative", f.TrashDays)
	case f.Shards < 0 || f.Shards > 256:
		return fmt.Errorf("shards %d is not from 0 to 256", f.Shards)
	}
	switch strings.ToLower(f.Compression) {
	case "", "none", "lz4", "zstd":
	default:
		return fmt.Errorf("compression %q is none of none, lz4 and zstd", f.Compression)
	}
	return nil
}

// Clone returns a copy of f that shares nothing with it; a format without
// Tiers gets its effective tiers.
func (f *Format) Clone() *Format {
	c := *f
	c.Tiers = maps.Clone(f.Tiers)
	if c.Tiers == nil {
		c.Tiers = f.EffectiveTiers()
	}
	return &c
}

// CheckMetaVersion refuses a volume whose metadata schema is newer than
// this client understands.
func (f *Format) CheckMetaVersion() error {
	if f.MetaVersion > MaxMetaVersion {
		return fmt.Errorf("metadata version %d is newer than %d, the newest this client understands; please upgrade the client", f.MetaVersion, MaxMetaVersion)
	}
	return nil
}

// CheckVersion applies the load-time gate of a volume for a client of the
// given version: the metadata version must be at most MaxMetaVersion and the
// client must lie within [MinClientVersion, MaxClientVersion] when they are
// set. An unparsable limit is an error, as in JuiceFS, and the messages are
// JuiceFS's (`config` shows them for the clients a change would reject).
func (f *Format) CheckVersion(client Version) error {
	if err := f.CheckMetaVersion(); err != nil {
		return err
	}
	if f.MinClientVersion != "" {
		v, err := ParseVersion(f.MinClientVersion)
		if err != nil {
			return fmt.Errorf("minimum client version: %w", err)
		}
		if CompareVersions(client, v) < 0 {
			return fmt.Errorf("allowed minimum version: %s; please upgrade the client", f.MinClientVersion)
		}
	}
	if f.MaxClientVersion != "" {
		v, err := ParseVersion(f.MaxClientVersion)
		if err != nil {
			return fmt.Errorf("maximum client version: %w", err)
		}
		if CompareVersions(client, v) > 0 {
			return fmt.Errorf("allowed maximum version: %s; please use an older client", f.MaxClientVersion)
		}
	}
	return nil
}

// RaiseMinClientVersion makes MinClientVersion at least what the volume's
// features need.
func (f *Format) RaiseMinClientVersion() {
	if f.EnableACL {
		f.MinClientVersion = HigherVersionLimit(f.MinClientVersion, MinClientACL)
	}
	if f.RangerRestURL != "" || f.RangerService != "" {
		f.MinClientVersion = HigherVersionLimit(f.MinClientVersion, MinClientRanger)
	}
	if f.KerbConf != "" {
		f.MinClientVersion = HigherVersionLimit(f.MinClientVersion, MinClientKerberos)
	}
}

// CompareVersionLimits orders two client-version limits as JuiceFS does:
// "" (no limit) is the lowest, an unparsable version sorts below every
// valid one, and valid ones compare as CompareVersions.
func CompareVersionLimits(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	va, errA := ParseVersion(a)
	vb, errB := ParseVersion(b)
	switch {
	case errA != nil && errB != nil:
		return strings.Compare(a, b)
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	}
	return CompareVersions(va, vb)
}

// HigherVersionLimit returns the higher of two client-version limits (see
// CompareVersionLimits).
func HigherVersionLimit(a, b string) string {
	if CompareVersionLimits(a, b) >= 0 {
		return a
	}
	return b
}

// BucketPath returns bucket as a volume of the given storage stores it: for
// file, an absolute directory path with a trailing slash; for sqlite3, an
// absolute path; for anything else, unchanged.
func BucketPath(storage, bucket string) (string, error) {
	if storage != "file" && storage != "sqlite3" {
		return bucket, nil
	}
	p, err := filepath.Abs(bucket)
	if err != nil {
		return "", fmt.Errorf("absolute path of bucket %q: %w", bucket, err)
	}
	if storage == "file" {
		p += "/"
	}
	return p, nil
}
