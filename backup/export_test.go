package backup

import (
	"io"
	"sort"
)

// Records lists every record of a backup, sorted: two backups of the same
// volume list the same records whatever their order.
func Records(r io.ReaderAt, size int64) ([]string, error) {
	lines, err := records(r, size)
	sort.Strings(lines)
	return lines, err
}
