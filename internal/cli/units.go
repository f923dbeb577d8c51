package cli

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Sizes, rates and their display, with the same rules as juicefs.

// parseBytes reads a size such as "4M", "1.5G" or "100": a number with an
// optional unit letter (B, K, M, G, T, P, E; powers of 1024); a bare number
// is in unit (e.g. 'G' for --capacity, 'K' for --block-size).
func parseBytes(flag, s string, unit byte) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	num := s
	if c := s[len(s)-1]; c < '0' || c > '9' {
		unit, num = c, s[:len(s)-1]
	}
	shift := strings.IndexByte("BKMGTPE", upper(unit))
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case shift < 0:
		return 0, fmt.Errorf("invalid value %q for --%s: unknown unit %q (use B, K, M, G, T, P or E)", s, flag, unit)
	case err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("invalid value %q for --%s: not a size", s, flag)
	}
	v *= float64(uint64(1) << (10 * shift))
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("invalid value %q for --%s: too large", s, flag)
	}
	return uint64(v), nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// parseMbps reads a bandwidth in Mbps: a number with an optional unit M, G
// (×1000), T (×10⁶) or P (×10⁹).
func parseMbps(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	num, mult := s, 1.0
	if c := s[len(s)-1]; c < '0' || c > '9' {
		num = s[:len(s)-1]
		switch upper(c) {
		case 'M':
		case 'G':
			mult = 1e3
		case 'T':
			mult = 1e6
		case 'P':
			mult = 1e9
		default:
			return 0, fmt.Errorf("invalid value %q for --%s: unknown unit %q (use M, G, T or P)", s, flag, c)
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid value %q for --%s: not a bandwidth in Mbps", s, flag)
	}
	return int64(v * mult), nil
}

// formatMbps shows a bandwidth with one decimal in the largest fitting unit.
func formatMbps(v int64) string {
	f := float64(v)
	switch {
	case f < 1e3:
		return strconv.FormatFloat(f, 'f', 1, 64) + " Mbps"
	case f < 1e6:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + " Gbps"
	case f < 1e9:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + " Tbps"
	}
	return strconv.FormatFloat(f/1e9, 'f', 1, 64) + " Pbps"
}

// formatIBytes shows a size in powers of 1024 the way juicefs does
// ("0 B", "64 KiB", "1.5 GiB"): one decimal below 10 units, none above.
func formatIBytes(n uint64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	e := int(math.Floor(math.Log(float64(n)) / math.Log(1024)))
	e = min(e, len(units)-1)
	v := math.Floor(float64(n)/math.Pow(1024, float64(e))*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[e])
	}
	return fmt.Sprintf("%.0f %s", v, units[e])
}

// formatComma shows an integer with thousands separators.
func formatComma(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Block size limits of a volume, in bytes.
const (
	minBlockSize = 64 << 10
	maxBlockSize = 16 << 20
)

// fixBlockSize rounds a block size in bytes down to a power of two and into
// [64 KiB, 16 MiB]; warn receives a message when it had to be clamped.
func fixBlockSize(s uint64, warn func(string)) uint64 {
	p := uint64(0)
	if s > 0 {
		p = uint64(1) << (bits.Len64(s) - 1)
	}
	switch {
	case p < minBlockSize:
		warn(fmt.Sprintf("block size is too small: %s, use %s instead", formatIBytes(p), formatIBytes(minBlockSize)))
		p = minBlockSize
	case p > maxBlockSize:
		warn(fmt.Sprintf("block size is too large: %s, use %s instead", formatIBytes(p), formatIBytes(maxBlockSize)))
		p = maxBlockSize
	}
	return p
}

// plural is "1 key", "2 keys", "2 entries": n with the noun, in the
// plural unless n is 1.
func plural[N int | int64 | uint64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	if stem, ok := strings.CutSuffix(noun, "y"); ok && stem != "" && !strings.ContainsAny(stem[len(stem)-1:], "aeiou") {
		return fmt.Sprintf("%d %sies", n, stem)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
