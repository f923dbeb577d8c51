package codec

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

var benchAttr = Attr{Typ: TypeFile, Mode: 0o644, Uid: 1000, Gid: 1000, Atime: 1795778524, Mtime: 1795778524,
	Ctime: 1795778524, Nlink: 1, Length: 123456, Parent: 5, AccessACL: 3}

func BenchmarkAttrMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = benchAttr.Marshal()
	}
}

func BenchmarkAttrAppend(b *testing.B) {
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = benchAttr.Append(buf[:0])
	}
}

func BenchmarkUnmarshalAttr(b *testing.B) {
	v := string(benchAttr.Marshal())
	var a Attr
	b.ReportAllocs()
	for b.Loop() {
		if err := UnmarshalAttr(v, &a); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecords makes n records as a chunk sees them: mostly sequential
// appends with some random overwrites.
func benchRecords(n int) []SliceRecord {
	rng := rand.New(rand.NewPCG(7, 8))
	recs := make([]SliceRecord, n)
	var pos uint32
	for i := range recs {
		l := 4096 + rng.Uint32N(60000)
		p := pos
		if rng.IntN(4) == 0 {
			p = rng.Uint32N(pos + 1)
		} else {
			pos += l
		}
		if p+l > ChunkSize {
			p = ChunkSize - l
		}
		recs[i] = SliceRecord{Pos: p, ID: uint64(i + 1), Size: l, Len: l}
	}
	return recs
}

func BenchmarkBuildLayout(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000, 5000} {
		recs := benchRecords(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = BuildLayout(recs)
			}
		})
	}
}

func BenchmarkUnmarshalSliceRecords(b *testing.B) {
	recs := benchRecords(1000)
	elems := make([]string, len(recs))
	for i, r := range recs {
		elems[i] = string(r.Marshal())
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalSliceRecords(elems); err != nil {
			b.Fatal(err)
		}
	}
}
