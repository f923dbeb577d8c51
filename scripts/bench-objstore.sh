#!/usr/bin/env bash
# bench-objstore.sh — encryption on the object storage against its physical
# limits: 4 MiB blocks, `file` storage in a tmpfs (/dev/shm).
# BenchmarkOverhead alternates, block by block, the limit (the cipher
# libraries: RSA-OAEP of the data key and the AEAD over the block; then the
# storage alone) and our put or get of the same block. Prints the medians
# of five runs: CPU time of the benchmark's thread (user + system: the
# kernel's copies into and out of the tmpfs included), which a loaded
# machine does not inflate, and wall-clock time, which it does.
#   usage: scripts/bench-objstore.sh [ROUNDS]   (default 200 blocks per run)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
out=$(go test -run '^$' -bench '^BenchmarkOverhead$' -benchtime "${rounds}x" -count 5 ./objstore/encrypt)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$out" | awk '
function median(name,   n, i, j, t, v) {
	n = split(vals[name], v, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return v[int((n + 1) / 2)]
}
/^BenchmarkOverhead\// {
	name = $1; sub(/^BenchmarkOverhead\//, "", name); sub(/-[0-9]+$/, "", name)
	names[name] = 1
	for (i = 3; i < NF; i += 2) vals[name "|" $(i + 1)] = vals[name "|" $(i + 1)] " " $i
}
END {
	printf "%-22s %10s %10s %9s   %10s %10s %9s\n", "4 MiB block", "limit cpu", "ours cpu", "overhead", "limit wall", "ours wall", "overhead"
	split("aes256gcm-rsa/put aes256gcm-rsa/get chacha20-rsa/put chacha20-rsa/get", order, " ")
	for (k = 1; k <= 4; k++) {
		n = order[k]
		printf "%-22s %8.0fµs %8.0fµs %8.1f%%   %8.0fµs %8.0fµs %8.1f%%\n", n,
			median(n "|limit-cpu-µs/block"), median(n "|ours-cpu-µs/block"), median(n "|cpu-overhead-%"),
			median(n "|limit-µs/block"), median(n "|ours-µs/block"), median(n "|overhead-%")
	}
}'
