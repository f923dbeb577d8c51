// Package codec encodes and decodes every value stored in the Redis keyspace
// of a JuiceFS 1.4.1 volume: inode attributes, directory entries, chunk slice
// records, delayed-slice records, quota limits, POSIX lock records, ACL rules,
// the volume format JSON and the session info JSON, plus the text conventions
// used in hash fields and set members (lock owners, delfiles members, trash
// names).
//
// rueidisfs shares its keyspace with the official JuiceFS client, so every
// encoder here produces exactly the bytes JuiceFS 1.4.1 writes, and every
// decoder accepts whatever JuiceFS 1.4.1 accepts; the tests hold them to
// values the official client wrote (testdata).
//
// Decoders never panic on malformed input. They return a *CorruptError, which
// callers can tag with the Redis key (and hash field) the value came from via
// Corrupt or CorruptField, and recognise with IsCorruption.
//
// Decoders are generic over Bytes so that a Redis reply can be decoded
// without first copying a string into a []byte (or the other way round).
package codec

// Bytes is the set of argument types accepted by the decoders: Redis client
// libraries hand out replies either as string or as []byte, and converting one
// into the other costs an allocation and a copy on the hot path.
type Bytes interface {
	~string | ~[]byte
}

func be16[B Bytes](b B, i int) uint16 {
	_ = b[i+1]
	return uint16(b[i])<<8 | uint16(b[i+1])
}

func be32[B Bytes](b B, i int) uint32 {
	_ = b[i+3]
	return uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
}

func be64[B Bytes](b B, i int) uint64 {
	return uint64(be32(b, i))<<32 | uint64(be32(b, i+4))
}

func put16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func put32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func put64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
