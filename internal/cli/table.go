package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Output helpers shared by info, summary and quota: juicefs's text tables
// and its "x.xx KiB (N Bytes)" sizes.

// printTable writes rows (the first one is the header) as juicefs draws
// its tables: +---+ borders, a centred header, cells right-aligned except
// the column leftAlign (-1: none). Widths count bytes, as juicefs does, so
// a column holding multi-byte names is wider than it looks.
func printTable(w io.Writer, rows [][]string, leftAlign int) {
	if len(rows) == 0 {
		return
	}
	cols := len(rows[0])
	width := make([]int, cols)
	for _, r := range rows {
		for i := 0; i < cols && i < len(r); i++ {
			width[i] = max(width[i], len(r[i]))
		}
	}
	var b strings.Builder
	for _, wd := range width {
		b.WriteByte('+')
		b.WriteString(strings.Repeat("-", wd+2))
	}
	b.WriteString("+\n")
	divider := b.String()
	line := func(cells []string, cell func(i int, s string) string) {
		b.Reset()
		for i := 0; i < cols; i++ {
			s := ""
			if i < len(cells) {
				s = cells[i]
			}
			b.WriteString("| ")
			b.WriteString(cell(i, s))
			b.WriteByte(' ')
		}
		b.WriteString("|\n")
		io.WriteString(w, b.String())
	}
	io.WriteString(w, divider)
	line(rows[0], func(i int, s string) string {
		pad := width[i] - len(s)
		left := (pad + 1) / 2
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", pad-left)
	})
	io.WriteString(w, divider)
	for _, r := range rows[1:] {
		line(r, func(i int, s string) string {
			pad := strings.Repeat(" ", width[i]-len(s))
			if i == leftAlign {
				return s + pad
			}
			return pad + s
		})
	}
	io.WriteString(w, divider)
}

// formatBytesLong shows a size the way `juicefs info` does: "87 Bytes"
// below 1 KiB, else two decimals of the largest unit that keeps the value
// under 1024 and the exact count ("2.50 MiB (2622674 Bytes)").
func formatBytesLong(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d Bytes", n)
	}
	units := []string{"K", "M", "G", "T", "P", "E"}
	m, i := n, 0
	for ; i < len(units)-1 && m >= 1<<20; i++ {
		m >>= 10
	}
	return fmt.Sprintf("%.2f %siB (%d Bytes)", float64(m)/1024, units[i], n)
}

// asJSONText replaces every byte of s that is not part of valid UTF-8 with
// U+FFFD, as encoding/json does. juicefs info and summary receive their
// paths from the mounted client as JSON, so a name that is not valid UTF-8
// shows that way; rueidisfs prints the same.
func asJSONText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
