package backup

import "github.com/redis/rueidis"

// groupedWrites collects the writes of a batch of records and sends them
// in as few commands as their keys allow: every string of the batch in one
// MSET, the fields of each hash in one HSET, the other commands as they
// came. (Keys of a volume with a Cluster prefix share one slot, so one
// MSET may hold them all.) A backup names every key at most once per
// field, so grouping changes nothing but the count of commands Redis
// parses.
type groupedWrites struct {
	sets   []string            // key, value, ...
	hashes map[string][]string // key -> field, value, ...
	order  []string            // hash keys, in the order first written
	other  []rueidis.Completed
	size   int // values queued
}

func newGroupedWrites() *groupedWrites { return &groupedWrites{hashes: map[string][]string{}} }

func (w *groupedWrites) set(key, value string) {
	w.sets = append(w.sets, key, value)
	w.size++
}

func (w *groupedWrites) hset(key, field, value string) {
	fv, ok := w.hashes[key]
	if !ok {
		w.order = append(w.order, key)
	}
	w.hashes[key] = append(fv, field, value)
	w.size++
}

// cmd adds a command writing n values.
func (w *groupedWrites) cmd(c rueidis.Completed, n int) {
	w.other = append(w.other, c)
	w.size += n
}

// commands builds the commands of what was queued.
func (w *groupedWrites) commands(b rueidis.Builder) []rueidis.Completed {
	cmds := make([]rueidis.Completed, 0, 1+len(w.order)+len(w.other))
	if len(w.sets) > 0 {
		kv := b.Mset().KeyValue()
		for i := 0; i < len(w.sets); i += 2 {
			kv = kv.KeyValue(w.sets[i], w.sets[i+1])
		}
		cmds = append(cmds, kv.Build())
	}
	for _, key := range w.order {
		fv := w.hashes[key]
		h := b.Hset().Key(key).FieldValue()
		for i := 0; i < len(fv); i += 2 {
			h = h.FieldValue(fv[i], fv[i+1])
		}
		cmds = append(cmds, h.Build())
	}
	return append(cmds, w.other...)
}

func (w *groupedWrites) reset() {
	w.sets, w.order, w.other, w.size = w.sets[:0], w.order[:0], nil, 0
	clear(w.hashes)
}
