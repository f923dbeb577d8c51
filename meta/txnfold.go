package meta

// Checks folded into writes.
//
// A compiled transaction (txnshape.go) checks some of its conditions with
// the write that depends on them instead of reading first, which saves
// Redis a call per transaction:
//
//   - setIfAbsent: the new inode's attribute, expected absent, is written
//     first, with SET ... NX;
//   - fieldIfAbsent: the new entry's name, expected absent, is written
//     with HSETNX right after (before any other write), and a refusal
//     undoes the SET ... NX before it (DEL of a key that was absent
//     restores it exactly).
//
// Either way a failure leaves nothing written and reports the state of
// every condition, as txn.lua, which reads them all first, does.
//
// Likewise one counter is not read by the write guards (txnguard.go):
// intFirst's write runs right after the folded ones, with redis.pcall,
// and a refusal (the counter holds no integer) undoes them (HDEL of the
// field, DEL of the key) and fails as the guard would have.

// setIfAbsent returns the condition that a key is absent when the first
// write sets that key (a new inode's attribute), or -1. The script checks
// it with that write, SET ... NX, which saves Redis an EXISTS: the write
// comes after every other check and before any other write, so a failure
// still leaves nothing written.
func setIfAbsent(tx *Tx) int {
	if len(tx.writes) == 0 || tx.writes[0].cmd != "SET" || len(tx.writes[0].args) != 1 {
		return -1
	}
	for i, c := range tx.conds {
		if c.kind == condExists && !c.present && c.key == tx.writes[0].key {
			return i
		}
	}
	return -1
}

// fieldIfAbsent returns the condition that a hash field is absent and the
// write that sets that very field (HSET key field value: a new entry) when
// no earlier write touches the hash, or -1, -1. The script runs that write
// as HSETNX before the others (after the SET ... NX of setIfAbsent), which
// checks the condition. The shape records the pair: the same shape with
// another field would be another transaction.
func fieldIfAbsent(tx *Tx) (cond, write int) {
	for i, c := range tx.conds {
		if c.kind != condHGet || c.present {
			continue
		}
		for j, w := range tx.writes {
			if w.key != c.key {
				continue
			}
			if w.cmd == "HSET" && len(w.args) == 2 && w.args[0] == c.field {
				return i, j
			}
			break // an earlier write to the hash: not this condition
		}
	}
	return -1, -1
}

// intFirst returns the first write that changes a counter (INCRBY and
// its kin) which no earlier write touches, or -1 (setIfAbsent's write, a
// SET, is never one).
func intFirst(tx *Tx) int {
	for j, w := range tx.writes {
		if g, ok := writeGuards[w.cmd]; !ok || g.kind != guardInt {
			continue
		}
		for _, before := range tx.writes[:j] {
			if before.key == w.key {
				return -1
			}
		}
		return j
	}
	return -1
}

// foldedOrder is the order a compiled script runs n writes in: the
// SET ... NX (write 0, when nx >= 0), then the HSETNX (write hw, when
// hw >= 0), then the counter's (write ic, when ic >= 0), then the others
// as queued. Moving them forward changes nothing else: no write before
// them touches their keys (fieldIfAbsent, intFirst).
func foldedOrder(n, nx, hw, ic int) []int {
	order := make([]int, 0, n)
	if nx >= 0 {
		order = append(order, 0)
	}
	for _, j := range []int{hw, ic} {
		if j >= 0 {
			order = append(order, j)
		}
	}
	for j := 0; j < n; j++ {
		if (j != 0 || nx < 0) && j != hw && j != ic {
			order = append(order, j)
		}
	}
	return order
}
