package dump

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
)

// parser reads a dump document as a stream of JSON tokens, checks every
// part of it and translates it into the commands that load it (appended to
// a spool). It keeps no tree in memory: only a bitset of the inodes met, the
// occurrences of inodes met more than once, one (id, size) pair per slice
// record (for the reference counts), the distinct ACL rules, the subtree
// usage of directories that may carry a quota, and, per directory on the
// current path, a hash of each entry name (to reject duplicates).
type parser struct {
	dec      *json.Decoder
	keys     keyspace.Keys
	sp       *spool
	log      *slog.Logger
	maxDepth int
	progress func(done, total int64)
	seed     maphash.Seed

	path []string // JSON path of the value being read, for messages

	// Top level.
	seenTop       map[string]bool
	format        *codec.Format
	settingOffset int64
	counters      *dumpedCounters
	dirQuotas     map[uint64]dumpedQuota
	userQuotas    map[uint64]dumpedQuota
	groupQuotas   map[uint64]dumpedQuota
	sustained     int
	delFiles      int64
	// delFileAt is where each DelFiles inode was read, checked at the end
	// against the tree (a file queued for deletion must not be live).
	delFileAt     map[uint64]int64
	rootDumpedIno codec.Ino
	haveTrash     bool

	// Tree.
	seen        map[uint64]uint64 // bitset of inodes met: word index -> bits
	dups        []duplicate       // later occurrences of non-directory inodes
	refs        []sliceKey        // slice records of first occurrences
	acls        map[string]uint32 // encoded rule -> new ID
	aclRules    []string          // encoded rules by ID-1
	usedSpace   int64
	totalInodes int64
	maxIno      uint64
	maxChunk    uint64
	maxTrash    uint64
	dirUsage    map[codec.Ino]usage // subtree usage of FSTree directories
	ugTree      ugUsage
	ugTrash     ugUsage
	stats       statBatch
	nodes       int64
}

// duplicate is a later occurrence of an inode (a hard link).
type duplicate struct {
	ino    codec.Ino
	parent codec.Ino
	fp     uint64
	offset int64
	path   string
}

type sliceKey struct {
	id   uint64
	size uint32
}

type usage struct{ space, inodes int64 }

// ugUsage is the user and group quota usage of a part of the tree.
type ugUsage struct{ users, groups map[uint32]*usage }

func (u *ugUsage) entry(uid, gid uint32) (*usage, *usage) {
	if u.users == nil {
		u.users, u.groups = map[uint32]*usage{}, map[uint32]*usage{}
	}
	if u.users[uid] == nil {
		u.users[uid] = &usage{}
	}
	if u.groups[gid] == nil {
		u.groups[gid] = &usage{}
	}
	return u.users[uid], u.groups[gid]
}

// defaultMaxDepth bounds the depth of the tree Load accepts.
const defaultMaxDepth = 4096

func newParser(r io.Reader, keys keyspace.Keys, sp *spool, log *slog.Logger, maxDepth int) *parser {
	if maxDepth <= 0 {
		maxDepth = defaultMaxDepth
	}
	return &parser{
		dec:      json.NewDecoder(&tokenLimiter{r: r, max: maxTokenBytes}),
		keys:     keys,
		sp:       sp,
		log:      log,
		maxDepth: maxDepth,
		seed:     maphash.MakeSeed(),
		seenTop:  map[string]bool{},
		seen:     map[uint64]uint64{},
		acls:     map[string]uint32{},
		dirUsage: map[codec.Ino]usage{},
		stats:    statBatch{keys: keys},
	}
}

// --- errors and positions ---

// pathString renders the JSON path; the middle of a very deep one is
// elided.
func (p *parser) pathString() string {
	const head, tail = 4, 8
	if len(p.path) <= head+tail+1 {
		return "$" + strings.Join(p.path, "")
	}
	return fmt.Sprintf("$%s…(%d levels)…%s", strings.Join(p.path[:head], ""), len(p.path)-head-tail,
		strings.Join(p.path[len(p.path)-tail:], ""))
}

func (p *parser) push(c string) { p.path = append(p.path, c) }
func (p *parser) pop()          { p.path = p.path[:len(p.path)-1] }

// failAt reports a problem at a byte offset and the current path.
func (p *parser) failAt(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Path: p.pathString(), Err: fmt.Errorf(format, args...)}
}

// fail reports a problem just before the decoder's position.
func (p *parser) fail(format string, args ...any) error {
	return p.failAt(p.dec.InputOffset(), format, args...)
}

// jsonErr turns a decoding error into a FormatError; base is the offset at
// which the value being decoded started (encoding/json reports offsets
// within a decoded value relative to it).
func (p *parser) jsonErr(err error, base int64) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return p.fail("unexpected end of the document (truncated dump?)")
	case errors.As(err, &se):
		off := se.Offset
		if off < base {
			off += base
		}
		return p.failAt(off, "malformed JSON: %v", se)
	case errors.As(err, &te):
		what := te.Field
		if what == "" {
			what = "value"
		}
		return p.failAt(base+te.Offset, "%s: %s is not %s", what, te.Value, typeDesc(te.Type))
	}
	return p.failAt(p.dec.InputOffset(), "%v", err)
}

// typeDesc describes what a Go type accepts, for messages.
func typeDesc(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<(t.Bits())-1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return fmt.Sprintf("a %d-bit integer", t.Bits())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return typeDesc(t.Elem())
	}
	return t.String()
}

// --- token helpers ---

func (p *parser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, p.jsonErr(err, p.dec.InputOffset())
	}
	return t, nil
}

// open reads the opening delimiter of an object or array. A null is
// accepted (and reported by ok=false) when nullOK.
func (p *parser) open(d json.Delim, nullOK bool) (ok bool, err error) {
	off := p.dec.InputOffset()
	t, err := p.token()
	if err != nil {
		return false, err
	}
	if t == nil && nullOK {
		return false, nil
	}
	if t != d {
		want := "an object"
		if d == '[' {
			want = "an array"
		}
		return false, p.failAt(off, "%s expected, found %s", want, tokenDesc(t))
	}
	return true, nil
}

func tokenDesc(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		return strconv.Quote(v.String())
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// nextKey returns the next key of the object being read, or ok=false at its
// end (the closing brace is consumed).
func (p *parser) nextKey() (key string, ok bool, err error) {
	if !p.dec.More() {
		if _, err := p.token(); err != nil {
			return "", false, err
		}
		return "", false, nil
	}
	t, err := p.token()
	if err != nil {
		return "", false, err
	}
	s, isStr := t.(string)
	if !isStr {
		return "", false, p.fail("object key expected, found %s", tokenDesc(t))
	}
	return s, true, nil
}

// decode decodes the next value into v.
func (p *parser) decode(v any) error {
	base := p.dec.InputOffset()
	if err := p.dec.Decode(v); err != nil {
		return p.jsonErr(err, base)
	}
	return nil
}

// skip reads over the next value.
func (p *parser) skip() error {
	depth := 0
	for {
		t, err := p.token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// --- top level ---

func (p *parser) parse() error {
	if _, err := p.open('{', false); err != nil {
		return err
	}
	for {
		key, more, err := p.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		p.push("." + key)
		if p.seenTop[key] {
			return p.fail("%q appears twice", key)
		}
		p.seenTop[key] = true
		if err := p.topLevel(key); err != nil {
			return err
		}
		p.pop()
	}
	if t, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return p.jsonErr(err, p.dec.InputOffset())
		}
		return p.fail("unexpected %s after the end of the dump", tokenDesc(t))
	}
	if p.counters == nil {
		return p.fail("invalid dumped meta: missing 'Counters'")
	}
	for _, k := range []string{"Setting", "FSTree"} {
		if !p.seenTop[k] {
			return p.fail("the dump has no %q", k)
		}
	}
	return p.stats.flush(p.sp)
}

func (p *parser) topLevel(key string) error {
	switch key {
	case "Setting":
		p.settingOffset = p.dec.InputOffset()
		var f codec.Format
		if err := p.decode(&f); err != nil {
			return err
		}
		if f.Name == "" {
			return p.fail("the volume has no name")
		}
		p.format = &f
	case "Counters":
		if err := p.decode(&p.counters); err != nil {
			return err
		}
		if p.counters == nil {
			return p.fail("invalid dumped meta: missing 'Counters'")
		}
	case "Sustained":
		var s []dumpedSustained
		if err := p.decode(&s); err != nil {
			return err
		}
		for _, x := range s {
			p.sustained += len(x.Inodes)
		}
	case "DelFiles":
		return p.delFilesList()
	case "Quotas":
		return p.quotas(&p.dirQuotas, 1<<64-1)
	case "UserQuotas":
		return p.quotas(&p.userQuotas, 1<<32-1)
	case "GroupQuotas":
		return p.quotas(&p.groupQuotas, 1<<32-1)
	case "ChangeLog":
		return p.skip()
	case "FSTree":
		_, err := p.node(kindTreeRoot, codec.RootInode, 1)
		return err
	case "Trash":
		p.haveTrash = true
		_, err := p.node(kindTrashRoot, codec.RootInode, 1)
		return err
	default:
		return p.fail("unknown key %q", key)
	}
	return nil
}

// delFilesList reads DelFiles and queues them, 100 members per ZADD.
func (p *parser) delFilesList() error {
	ok, err := p.open('[', true)
	if err != nil || !ok {
		return err
	}
	batch := newCmdBatch(p.sp, 2*100, "ZADD", p.keys.DelFiles())
	for i := 0; p.dec.More(); i++ {
		p.push(fmt.Sprintf("[%d]", i))
		var d dumpedDelFile
		if err := p.decode(&d); err != nil {
			return err
		}
		if d.Inode == 0 || d.Inode >= uint64(codec.MinInternalInode) {
			return p.fail("inode %d is not a valid inode number", d.Inode)
		}
		p.maxIno = max(p.maxIno, d.Inode)
		if p.delFileAt == nil {
			p.delFileAt = map[uint64]int64{}
		}
		p.delFileAt[d.Inode] = p.dec.InputOffset()
		if err := batch.add(strconv.FormatInt(d.Expire, 10), codec.DelFileMember(codec.Ino(d.Inode), d.Length)); err != nil {
			return err
		}
		p.delFiles++
		p.pop()
	}
	if err := batch.flush(); err != nil {
		return err
	}
	_, err = p.token()
	return err
}

// quotas reads a quota object keyed by decimal IDs no larger than maxID.
func (p *parser) quotas(dst *map[uint64]dumpedQuota, maxID uint64) error {
	var raw map[string]dumpedQuota
	if err := p.decode(&raw); err != nil {
		return err
	}
	*dst = make(map[uint64]dumpedQuota, len(raw))
	for k, q := range raw {
		id, err := strconv.ParseUint(k, 10, 64)
		if err != nil || id > maxID || strconv.FormatUint(id, 10) != k {
			return p.fail("quota key %q is not a decimal number up to %d", k, maxID)
		}
		(*dst)[id] = q
	}
	return nil
}

// --- batched hash writes ---

// statBatch gathers directory statistics into HSETs of many fields.
type statBatch struct {
	keys                  keyspace.Keys
	length, space, inodes []string
}

const hashBatch = 1000

// cmdBatch builds one variadic command (HSET key field value ..., RPUSH key
// value ..., ZADD key score member ...) and queues it each time it holds max
// arguments after the key, so that no command grows with the volume.
type cmdBatch struct {
	sp   *spool
	args []string // the command name, the key, then the arguments
	max  int
}

func newCmdBatch(sp *spool, max int, cmd, key string) cmdBatch {
	return cmdBatch{sp: sp, args: []string{cmd, key}, max: max}
}

// add appends arguments (a field and its value, a score and its member),
// queueing the command once it is full.
func (b *cmdBatch) add(args ...string) error {
	b.args = append(b.args, args...)
	if len(b.args) < 2+b.max {
		return nil
	}
	if err := b.sp.add(b.args...); err != nil {
		return err
	}
	b.args = b.args[:2]
	return nil
}

// flush queues the arguments added since the last command, if any.
func (b *cmdBatch) flush() error {
	if len(b.args) == 2 {
		return nil
	}
	if err := b.sp.add(b.args...); err != nil {
		return err
	}
	b.args = b.args[:2]
	return nil
}

func (b *statBatch) add(sp *spool, dir codec.Ino, s dirStat) error {
	f := dir.String()
	b.length = append(b.length, f, strconv.FormatInt(s.length, 10))
	b.space = append(b.space, f, strconv.FormatInt(s.space, 10))
	b.inodes = append(b.inodes, f, strconv.FormatInt(s.inodes, 10))
	if len(b.length) >= 2*hashBatch {
		return b.flush(sp)
	}
	return nil
}

func (b *statBatch) flush(sp *spool) error {
	if len(b.length) == 0 {
		return nil
	}
	for _, h := range []struct {
		key    string
		fields *[]string
	}{{b.keys.DirDataLength(), &b.length}, {b.keys.DirUsedSpace(), &b.space}, {b.keys.DirUsedInodes(), &b.inodes}} {
		if err := sp.add(append([]string{"HSET", h.key}, *h.fields...)...); err != nil {
			return err
		}
		*h.fields = (*h.fields)[:0]
	}
	return nil
}

type dirStat struct{ length, space, inodes int64 }

// --- the bitset of inodes met ---

func (p *parser) isSeen(ino codec.Ino) bool {
	return p.seen[uint64(ino)>>6]&(1<<(uint64(ino)&63)) != 0
}

func (p *parser) markSeen(ino codec.Ino) {
	p.seen[uint64(ino)>>6] |= 1 << (uint64(ino) & 63)
}
