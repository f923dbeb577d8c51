package dump

import (
	"strings"
	"unicode/utf8"
)

const upperHex = "0123456789ABCDEF"

// needsPercent reports whether an ASCII byte is %-escaped in names, symlink
// targets and xattr values: controls, space, '%', '"' and '\'.
func needsPercent(c byte) bool {
	return c <= ' ' || c == '%' || c == '"' || c == '\\'
}

// Escape returns s in the %-escaped form the dump uses for entry names,
// symlink targets and xattr values: every byte of an
// invalid UTF-8 sequence, every byte up to 0x20 and the characters %, " and \
// become %XX (upper-case hex); valid multi-byte characters are kept. The
// result is printable and needs no further JSON escaping.
//
// JuiceFS 1.4.1 writes a valid U+FFFD (EF BF BD) as "%EF" and drops the
// other two bytes, so its dump does not restore such a name; here U+FFFD is
// kept like every other valid character. That is the only difference.
func Escape(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || needsPercent(c) {
			return string(appendEscaped(make([]byte, 0, len(s)+8), s))
		}
	}
	return s
}

// appendEscaped appends the Escape form of s to dst.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if needsPercent(c) {
				dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			i++
			continue
		}
		dst = append(dst, s[i:i+size]...)
		i += size
	}
	return dst
}

func upperHexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Unescape reverses Escape the way JuiceFS does: %XX with two upper-case
// hexadecimal digits becomes the byte; any other '%' is kept as is.
func Unescape(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			h, ok1 := upperHexValue(s[i+1])
			l, ok2 := upperHexValue(s[i+2])
			if ok1 && ok2 {
				c = h<<4 | l
				i += 2
			}
		}
		b = append(b, c)
	}
	return string(b)
}

const lowerHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal exactly as the JSON
// encoder of JuiceFS 1.4.1 (goccy/go-json 0.10.5, Marshal) writes it: ", \,
// \n, \r and \t escaped with a backslash; the other controls, <, > and & as
// \u00xx; each byte of an invalid UTF-8 sequence as \ufffd; U+2028 and U+2029
// as \u2028 and \u2029. (Go's encoding/json differs in writing \b and \f.)
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < ' ' || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028':
			dst = append(dst, `\u2028`...)
		case r == '\u2029':
			dst = append(dst, `\u2029`...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
