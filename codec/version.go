package codec

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is a JuiceFS client version such as "1.4.1+2026-07-30.0b90c7d" or
// "1.1.0-A", as compared against Format.MinClientVersion and
// MaxClientVersion and reported in SessionInfo.Version.
type Version struct {
	Major, Minor, Patch uint64
	PreRelease          string // after '-', "" for a release
	Build               string // after '+', ignored by comparisons
}

// ParseVersion parses a version the way JuiceFS 1.4.1 does (loosely
// semver): anything from the first '+' on is build metadata; then anything
// after the first '-' is the pre-release; the rest is one to three
// dot-separated unsigned decimal numbers, missing ones being 0.
func ParseVersion(s string) (Version, error) {
	var v Version
	rest := s
	if p := strings.IndexByte(rest, '+'); p > 0 {
		rest, v.Build = rest[:p], rest[p+1:]
	}
	if p := strings.IndexByte(rest, '-'); p > 0 {
		rest, v.PreRelease = rest[:p], rest[p+1:]
	}
	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return Version{}, fmt.Errorf("invalid version %q: more than three numbers", s)
	}
	nums := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("invalid version %q: %w", s, err)
		}
		*nums[i] = n
	}
	return v, nil
}

// String formats v as major.minor.patch[-pre][+build].
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.PreRelease != "" {
		s += "-" + v.PreRelease
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// CompareVersions returns -1, 0 or +1 as a is lower than, equal to or higher
// than b: numbers first; then a release is higher than any pre-release of the
// same numbers; two pre-releases compare as strings. Build metadata is
// ignored, so "1.1.0-A" is below every 1.1.0 release.
func CompareVersions(a, b Version) int {
	if c := cmp.Compare(a.Major, b.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Minor, b.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Patch, b.Patch); c != 0 {
		return c
	}
	switch {
	case a.PreRelease == b.PreRelease:
		return 0
	case a.PreRelease == "":
		return 1
	case b.PreRelease == "":
		return -1
	}
	return strings.Compare(a.PreRelease, b.PreRelease)
}
