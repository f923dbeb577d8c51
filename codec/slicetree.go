package codec

// JuiceFSLayout is the visible layout of a chunk exactly as JuiceFS 1.4.1
// computes it for reads and `juicefs info` (buildSlice): the same visible
// bytes as BuildLayout, but with JuiceFS's way of describing holes, which
// `info --raw` shows. JuiceFS keeps the pieces in a binary tree; inserting
// a record cuts the tree at the record's start and end, and a cut that
// falls in a gap fills the gap up to the cut with a hole piece (slice id 0,
// Size 0; a hole cut in two keeps its Off advanced like any piece). A gap
// before the first piece, which no cut ever filled, is described as
// {ID 0, Size = Len = gap}. Zero-length records stay as zero-length pieces.
//
// It is meant for display; BuildLayout is faster on long chunk lists.
func JuiceFSLayout(records []SliceRecord) []Slice {
	var root *layoutNode
	for i := range records {
		r := &records[i]
		n := &layoutNode{pos: r.Pos, s: Slice{ID: r.ID, Size: r.Size, Off: r.Off, Len: r.Len}}
		var right *layoutNode
		n.left, right = root.cut(n.pos)
		_, n.right = right.cut(n.pos + n.s.Len)
		root = n
	}
	var out []Slice
	var pos uint32
	root.visit(func(n *layoutNode) {
		if n.pos > pos {
			out = append(out, Slice{Size: n.pos - pos, Len: n.pos - pos})
			pos = n.pos
		}
		out = append(out, n.s)
		pos += n.s.Len
	})
	return out
}

// layoutNode is one piece of a chunk at chunk offset pos, with the pieces
// before it on the left and those after it on the right.
type layoutNode struct {
	pos         uint32
	s           Slice
	left, right *layoutNode
}

// hole returns a hole piece of length n at pos (nil when n is 0).
func hole(pos, n uint32) *layoutNode {
	if n == 0 {
		return nil
	}
	return &layoutNode{pos: pos, s: Slice{Len: n}}
}

// cut splits the tree at chunk offset pos into what lies before and what
// lies from pos on, filling the gap between pos and the nearest piece with
// a hole piece first.
func (n *layoutNode) cut(pos uint32) (left, right *layoutNode) {
	switch {
	case n == nil:
		return nil, nil
	case pos <= n.pos:
		if n.left == nil {
			n.left = hole(pos, n.pos-pos)
		}
		left, n.left = n.left.cut(pos)
		return left, n
	case pos < n.pos+n.s.Len:
		l := pos - n.pos
		right = &layoutNode{pos: pos, s: Slice{ID: n.s.ID, Size: n.s.Size, Off: n.s.Off + l, Len: n.s.Len - l}, right: n.right}
		n.s.Len = l
		n.right = nil
		return n, right
	default:
		if n.right == nil {
			n.right = hole(n.pos+n.s.Len, pos-n.pos-n.s.Len)
		}
		n.right, right = n.right.cut(pos)
		return n, right
	}
}

// visit calls f for every piece in chunk order.
func (n *layoutNode) visit(f func(*layoutNode)) {
	for n != nil {
		n.left.visit(f)
		f(n)
		n = n.right
	}
}
