package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// blocks returns test blocks: incompressible, compressible, all zeros and
// tiny ones, of lengths around the sizes volumes use.
func blocks() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		words := []string{"juicefs ", "slice ", "block ", "chunk ", "redis ", "object "}
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.Bytes()[:n]
	}
	return map[string][]byte{
		"1 byte":        {42},
		"13 bytes":      []byte("hello, world\n"),
		"random 4KiB":   random(4 << 10),
		"random 64KiB":  random(64 << 10),
		"random 1MiB+7": random(1<<20 + 7),
		"text 128KiB":   text(128 << 10),
		"text 4MiB":     text(4 << 20),
		"zeros 4MiB":    make([]byte, 4<<20),
		"zeros 64KiB-1": make([]byte, 64<<10-1),
		"random 16MiB":  random(16 << 20),
		"text 131071":   text(131071),
		"random 131073": random(131073),
	}
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []string{"none", "lz4", "zstd", "", "LZ4", "Zstd"} {
		c, err := New(alg)
		if err != nil {
			t.Fatal(err)
		}
		for name, src := range blocks() {
			body, err := c.Compress(nil, src)
			if err != nil {
				t.Fatalf("%s %s: compress: %v", alg, name, err)
			}
			if len(body) > c.Bound(len(src)) {
				t.Errorf("%s %s: body %d bytes > bound %d", alg, name, len(body), c.Bound(len(src)))
			}
			stored := bytes.Clone(body)
			dst := make([]byte, len(src))
			if err := c.Decompress(dst, stored); err != nil {
				t.Fatalf("%s %s: decompress: %v", alg, name, err)
			}
			if !bytes.Equal(dst, src) {
				t.Fatalf("%s %s: round trip changed the data", alg, name)
			}
		}
	}
}

// TestCompressReusesDst: a destination buffer large enough is used, so the
// block path allocates nothing per block.
func TestCompressReusesDst(t *testing.T) {
	src := blocks()["text 128KiB"]
	for _, alg := range []string{"lz4", "zstd"} {
		c, _ := New(alg)
		dst := make([]byte, c.Bound(len(src)))
		body, err := c.Compress(dst, src)
		if err != nil {
			t.Fatal(err)
		}
		if &body[0] != &dst[0] {
			t.Errorf("%s: Compress did not build the body in dst", alg)
		}
	}
}

func TestUnknown(t *testing.T) {
	for _, alg := range []string{"gzip", "snappy", "zstd1"} {
		if _, err := New(alg); !errors.Is(err, ErrUnknown) {
			t.Errorf("New(%q) = %v, want ErrUnknown", alg, err)
		}
	}
}

// TestZstdFrameHasContentSize checks the property official readers rely
// on: the frame header declares the block's length.
func TestZstdFrameHasContentSize(t *testing.T) {
	c, _ := New("zstd")
	for name, src := range blocks() {
		body, err := c.Compress(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		size, ok := frameContentSize(body)
		if !ok || size != uint64(len(src)) {
			t.Errorf("%s: frame content size %d (present %v), want %d", name, size, ok, len(src))
		}
		if body[4]&0x04 != 0 {
			t.Errorf("%s: frame has a content checksum; the official client writes none", name)
		}
	}
}

// frameContentSize decodes the Frame_Content_Size field of a zstd frame
// header (RFC 8878 §3.1.1.1).
func frameContentSize(b []byte) (uint64, bool) {
	if len(b) < 6 || binary.LittleEndian.Uint32(b) != 0xFD2FB528 {
		return 0, false
	}
	fhd := b[4]
	fcsFlag := fhd >> 6
	single := fhd&0x20 != 0
	dictLen := []int{0, 1, 2, 4}[fhd&3]
	p := 5 + dictLen
	if !single {
		p++ // window descriptor
	}
	switch {
	case fcsFlag == 0 && single:
		return uint64(b[p]), true
	case fcsFlag == 0:
		return 0, false
	case fcsFlag == 1:
		return uint64(binary.LittleEndian.Uint16(b[p:])) + 256, true
	case fcsFlag == 2:
		return uint64(binary.LittleEndian.Uint32(b[p:])), true
	default:
		return binary.LittleEndian.Uint64(b[p:]), true
	}
}

// TestCorruptBodies: truncated, extended and garbage bodies are refused
// with ErrCorrupt, never decoded into wrong bytes of the right length.
func TestCorruptBodies(t *testing.T) {
	src := blocks()["text 128KiB"]
	for _, alg := range []string{"none", "lz4", "zstd"} {
		c, _ := New(alg)
		body, _ := c.Compress(nil, src)
		body = bytes.Clone(body)
		cases := map[string][]byte{
			"truncated":    body[:len(body)/2],
			"empty":        nil,
			"one short":    body[:len(body)-1],
			"beyond bound": append(bytes.Clone(body), make([]byte, c.Bound(len(src))+1)...),
		}
		if alg == "none" {
			cases["one long"] = append(bytes.Clone(body), 0)
		} else {
			// Without a checksum in the framing, only a damaged structure
			// can be detected; garbage has none.
			cases["garbage"] = bytes.Repeat([]byte{0xFF}, len(body))
		}
		for name, b := range cases {
			dst := make([]byte, len(src))
			if err := c.Decompress(dst, b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s %s: Decompress = %v, want ErrCorrupt", alg, name, err)
			}
		}
		// A body of another block length is refused too.
		if err := c.Decompress(make([]byte, len(src)+1), body); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decoding into a longer block = %v, want ErrCorrupt", alg, err)
		}
	}
}

// TestLZ4Incompressible: incompressible input still becomes an LZ4 block
// (the official reader always runs the decoder).
func TestLZ4Incompressible(t *testing.T) {
	c, _ := New("lz4")
	src := blocks()["random 64KiB"]
	body, err := c.Compress(nil, src)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(body, src) || len(body) <= len(src) {
		t.Fatalf("incompressible block stored as %d bytes; want a literal LZ4 block longer than %d", len(body), len(src))
	}
}

func FuzzDecompress(f *testing.F) {
	for _, alg := range []string{"lz4", "zstd"} {
		c, _ := New(alg)
		body, _ := c.Compress(nil, []byte("some block data, some block data, some block data"))
		f.Add(alg, body, 50)
	}
	f.Fuzz(func(t *testing.T, alg string, body []byte, n int) {
		c, err := New(alg)
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		dst := make([]byte, n)
		_ = c.Decompress(dst, body) // must not panic nor allocate without bound
	})
}
