package dump

import (
	"fmt"
	"io"

	"github.com/rueidisfs/rueidisfs/codec"
)

// maxTokenBytes bounds one JSON string or number of a dump: the longest a
// valid dump holds is an extended attribute value (codec.MaxXattrValueLen
// bytes, six times as many escaped). The JSON decoder keeps a whole token
// in memory, several times over while decoding it, so without a bound a
// single 100 MB name took 700 MB to refuse.
const maxTokenBytes = 6*codec.MaxXattrValueLen + 4096

// tokenLimiter passes a dump through, failing as soon as a string or a
// number runs longer than max bytes.
type tokenLimiter struct {
	r        io.Reader
	max      int
	run      int  // bytes of the current string or number
	inString bool // inside a string
	escaped  bool // the previous byte was a backslash inside a string
}

func (l *tokenLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		switch {
		case l.inString:
			switch {
			case l.escaped:
				l.escaped = false
			case c == '\\':
				l.escaped = true
			case c == '"':
				l.inString, l.run = false, 0
				continue
			}
		case c == '"':
			l.inString, l.run = true, 0
			continue
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == ' ' || c == '\n' || c == '\r' || c == '\t':
			l.run = 0
			continue
		}
		if l.run++; l.run > l.max {
			return 0, fmt.Errorf("a string or number longer than %d bytes (no field of a dump holds that much)", l.max)
		}
	}
	return n, err
}
