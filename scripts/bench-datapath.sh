#!/usr/bin/env bash
# bench-datapath.sh — the block path of the chunk store against its
# physical limits: 4 MiB blocks, `file` storage in a tmpfs (/dev/shm).
# Prints, per codec, the library's own time, the storage's own time, ours,
# and our overhead over the sum of the first two.
#   usage: scripts/bench-datapath.sh [ROUNDS]   (default 200 blocks per figure)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
out=$(go test -run '^$' -bench '^BenchmarkBlock$' -benchtime "${rounds}x" -count 3 ./chunk)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
# best of three runs of each figure, in microseconds per 4 MiB block
echo "$out" | awk '
/^BenchmarkBlock\// {
	name = $1; sub(/^BenchmarkBlock\//, "", name); sub(/-[0-9]+$/, "", name)
	v = $3 / 1000
	if (!(name in best) || v < best[name]) best[name] = v
}
END {
	printf "memcpy of a 4 MiB block: %.0f µs\n\n", best["memcpy"]
	printf "%-5s %-5s %10s %10s %10s %10s\n", "codec", "path", "codec µs", "storage µs", "ours µs", "overhead"
	split("none lz4 zstd", algs, " ")
	for (i = 1; i <= 3; i++) {
		a = algs[i]
		lim = best[a "/compress"] + best[a "/file-put"]
		printf "%-5s %-5s %10.0f %10.0f %10.0f %9.1f%%\n", a, "put", best[a "/compress"], best[a "/file-put"], best[a "/put"], (best[a "/put"] / lim - 1) * 100
		lim = best[a "/decompress"] + best[a "/file-get"]
		if (a == "none") lim = best[a "/file-get"]   # uncompressed blocks are read straight into place
		printf "%-5s %-5s %10.0f %10.0f %10.0f %9.1f%%\n", a, "get", (a == "none" ? 0 : best[a "/decompress"]), best[a "/file-get"], best[a "/get"], (best[a "/get"] / lim - 1) * 100
	}
}'
