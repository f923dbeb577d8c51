// Package backup reads and writes JuiceFS 1.4.1's binary metadata backup
// format (`juicefs dump --binary`, `juicefs load --binary`), so that a
// backup made by either client loads into the other.
//
// A backup is a sequence of segments, an end marker and a footer:
//
//	segment* | EOS (uint32 BE 0x747083) | footer | footer length (uint64 BE)
//	segment  = type (uint32 BE) | length (uint64 BE) | protobuf message
//
// The first segment holds the volume's format (message Format: the setting
// JSON); every other one holds a Batch message whose one repeated field
// carries the records of its type (nodes, edges, chunks, ...). The footer
// (message Footer) names, for every segment type, the offsets of its
// segments and the number of its records. The messages are protobuf; this
// package encodes and decodes them with protowire, field by field, so that
// a segment streams through a small buffer whatever its size.
//
// Dump reads a volume in parallel (one SCAN, then the keys of each type in
// batches read by Threads workers) and writes segments as they are ready;
// memory is bounded by the batches in flight. Load checks a whole backup
// (every segment, every record, the footer's offsets and counts) before it
// writes anything, then writes the segments in parallel, the volume's
// format last; a failure while writing deletes what was written.
package backup
