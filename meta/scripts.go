package meta

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The server-side scripts read the byte layouts of the values they check
// (attributes, entries, chunk list elements) and set the life of the replay
// markers, which the Go side defines too. So that the two cannot drift
// apart, a script's source names each such constant ${NAME}, and the
// values come from codec and from this package when the script is loaded
// (TestScriptConstants checks that no script keeps a number of its own for
// them).
var scriptConstants = map[string]int64{
	// Attribute value: byte offsets (0-based) of its fields, and the
	// shortest value that holds every mandatory field.
	"ATTR_MODE":    codec.AttrOffMode,
	"ATTR_UID":     codec.AttrOffUid,
	"ATTR_GID":     codec.AttrOffGid,
	"ATTR_ATIME":   codec.AttrOffAtime,
	"ATTR_MTIME":   codec.AttrOffMtime,
	"ATTR_NLINK":   codec.AttrOffNlink,
	"ATTR_LENGTH":  codec.AttrOffLength,
	"ATTR_PARENT":  codec.AttrOffParent,
	"ATTR_ACL":     codec.AttrOffACL,
	"ATTR_MIN_LEN": codec.AttrMinLen,
	// Directory entry value: its length and where its inode starts.
	"ENTRY_SIZE":  codec.EntrySize,
	"ENTRY_INODE": codec.EntryOffInode,
	// The node types an entry may hold (its first byte).
	"TYPE_FIRST": int64(codec.TypeFile),
	"TYPE_LAST":  int64(codec.TypeSocket),
	// Chunk list element: its length and where the slice id and size start.
	"SLICE_RECORD_SIZE": codec.SliceRecordSize,
	"SLICE_ID":          codec.SliceOffID,
	"SLICE_SIZE":        codec.SliceOffSize,
	// How long a hash of replay markers lives, in milliseconds.
	"MARKER_HASH_TTL_MS": markerHashTTL.Milliseconds(),
}

// scriptTables are the Lua tables scripts share with the Go side, by
// ${NAME}.
var scriptTables = map[string]func() string{
	// txn.lua's guard of each write command (see txnguard.go).
	"WRITE_GUARDS": writeGuardsLua,
	"GUARD_FUNCS":  func() string { return guardFuncs },
}

var scriptConstant = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// luaSource returns the source of script name with its ${NAME} constants
// replaced by their values. An unknown name is a programming error.
func luaSource(name, src string) string {
	return scriptConstant.ReplaceAllStringFunc(src, func(m string) string {
		if table, ok := scriptTables[m[2:len(m)-1]]; ok {
			return table()
		}
		v, ok := scriptConstants[m[2:len(m)-1]]
		if !ok {
			panic(fmt.Sprintf("%s: unknown script constant %s", name, m))
		}
		return strconv.FormatInt(v, 10)
	})
}
