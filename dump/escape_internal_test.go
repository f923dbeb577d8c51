package dump

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for raw, want := range map[string]string{
		"":                 "",
		"plain.txt":        "plain.txt",
		"a b":              "a%20b",
		"100%":             "100%25",
		`"\`:               "%22%5C",
		"\x00\x1f\x20\x7f": "%00%1F%20\x7f",
		"caf\xe9":          "caf%E9",
		"café":             "café",
		"\xe2\x82":         "%E2%82", // truncated sequence
		"\ufffd":           "\ufffd", // juicefs writes "%EF" (and loses two bytes)
		"日本":               "日本",
		"<&>'":             "<&>'",
	} {
		if got := Escape(raw); got != want {
			t.Errorf("Escape(%q) = %q, want %q", raw, got, want)
		}
		if got := Unescape(want); got != raw {
			t.Errorf("Unescape(%q) = %q, want %q", want, got, raw)
		}
	}
	// Unescape leaves what is not %XX with upper-case hex digits.
	for in, want := range map[string]string{"%": "%", "%4": "%4", "%4a": "%4a", "%G0": "%G0", "a%41": "aA", "%%41": "%A"} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a b", "%41", "\xff", "\ufffd", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if Unescape(e) != s {
			t.Fatalf("Unescape(Escape(%q)) = %q", s, Unescape(e))
		}
		if !utf8.ValidString(e) || strings.ContainsAny(e, "\" \\") {
			t.Fatalf("Escape(%q) = %q is not safe between quotes", s, e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] < 0x20 {
				t.Fatalf("Escape(%q) = %q has a control byte", s, e)
			}
		}
	})
}

// FuzzJSONString compares appendJSONString with encoding/json, which writes
// the same bytes as goccy/go-json except for \b and \f.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "<a&b>", "\u2028\u2029", "\xff\xfe", "\x00\t\n\r\"\\", "\b\f", "é日本\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		// Encode the pieces between \b and \f with encoding/json and join
		// them with goccy's escapes (they are ASCII: never inside a UTF-8
		// sequence).
		want := []byte{'"'}
		piece := 0
		for i := 0; i <= len(s); i++ {
			if i < len(s) && s[i] != '\b' && s[i] != '\f' {
				continue
			}
			enc, err := json.Marshal(s[piece:i])
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, enc[1:len(enc)-1]...)
			if i < len(s) {
				want = fmt.Appendf(want, `\u%04x`, s[i])
			}
			piece = i + 1
		}
		want = append(want, '"')
		if !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != strings.ToValidUTF8(s, "\ufffd") && utf8.ValidString(s) {
			t.Fatalf("%s decodes to %q, %v", got, back, err)
		}
	})
}
