package chunk

import "math/rand/v2"

// sampleSet maps keys to entries and can pick entries at random in O(1),
// which "2-random" eviction needs: of two entries picked at random, the
// one used longer ago goes. Not safe for concurrent use.
type sampleSet[E any] struct {
	index map[string]int // position in keys and entries
	keys  []string
	items []E
}

func newSampleSet[E any]() *sampleSet[E] { return &sampleSet[E]{index: map[string]int{}} }

func (s *sampleSet[E]) len() int { return len(s.keys) }

func (s *sampleSet[E]) get(key string) (E, bool) {
	i, ok := s.index[key]
	if !ok {
		var zero E
		return zero, false
	}
	return s.items[i], true
}

// add inserts key unless present; it reports whether it did.
func (s *sampleSet[E]) add(key string, e E) bool {
	if _, ok := s.index[key]; ok {
		return false
	}
	s.index[key] = len(s.keys)
	s.keys = append(s.keys, key)
	s.items = append(s.items, e)
	return true
}

// remove deletes key (moving the last entry into its place).
func (s *sampleSet[E]) remove(key string) (E, bool) {
	i, ok := s.index[key]
	if !ok {
		var zero E
		return zero, false
	}
	e, last := s.items[i], len(s.keys)-1
	s.keys[i], s.items[i] = s.keys[last], s.items[last]
	s.index[s.keys[i]] = i
	s.keys, s.items = s.keys[:last], s.items[:last]
	delete(s.index, key)
	return e, true
}

// victim picks two entries at random and returns the key of the one whose
// last use (by lastUse) is older. The set must not be empty.
func (s *sampleSet[E]) victim(lastUse func(E) int64) string {
	a, b := rand.IntN(len(s.keys)), rand.IntN(len(s.keys))
	if lastUse(s.items[b]) < lastUse(s.items[a]) {
		a = b
	}
	return s.keys[a]
}
