// Package dump writes and reads the JSON metadata dump of a JuiceFS volume,
// the format of `juicefs dump` and `juicefs load` 1.4.1,
// so that a volume can be backed up, inspected, or moved to another
// database, and dumps are interchangeable with the official client's.
//
// # The format
//
// A dump is one JSON object. Its head holds the volume format ("Setting",
// with the secret key and session token replaced by "removed" unless asked
// otherwise), the counters, the sustained inodes of live sessions, the files
// waiting for their data to be deleted, and the quota limits. Then comes the
// tree: "FSTree" is the root directory, every node showing its attributes,
// extended attributes, POSIX ACLs, and, depending on its type, the raw slice
// records of each 64 MiB chunk, a symlink target, or its entries, keyed by
// name and sorted by the names' bytes; "Trash" is the trash root with its
// hourly sub-directories. Names, symlink targets and xattr values are
// %-escaped (see Escape). A hard-linked file is shown in full under each of
// its names. The layout, down to the whitespace, is JuiceFS's, and Dump
// writes exactly the bytes juicefs writes for the same keyspace.
//
// A dump is not a snapshot: it is read directory by directory while the
// volume may change. Counters, link counts, directory statistics, slice
// reference counts and quota usage are derived data, which Load recomputes
// from the tree instead of trusting the document.
//
// # Using the package
//
//	err := dump.Dump(ctx, engine, w, dump.DumpOptions{})
//	err = dump.Load(ctx, emptyEngine, r, dump.LoadOptions{})
//
// Dump streams: its memory does not depend on the size of the volume (a
// million files dump with under 30 MiB of heap). Load checks the whole
// document before writing anything, keeping the commands it will send in a
// temporary spool file, then writes them in MULTI/EXEC batches and deletes
// them again if a batch fails; a rejected document is reported with its
// byte offset and JSON path (FormatError). CreateOutput and OpenInput give
// the CLI juicefs's file handling (.tmp then rename, .gz).
//
// docs/dump.md describes the design and the few places where rueidisfs
// deliberately differs from juicefs.
package dump
