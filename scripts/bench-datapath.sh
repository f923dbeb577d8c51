#!/usr/bin/env bash
# bench-datapath.sh — the block path of the chunk store against its
# physical limits: 4 MiB blocks (half random, half repetitive), `file`
# storage in a tmpfs (/dev/shm). BenchmarkBlockOverhead alternates, block by
# block, the limit (the compression library into a buffer, then the storage
# alone: write + rename; for reads the storage, then the library) and our
# put or get of the same block. Prints the medians of five runs: CPU time of
# the benchmark's thread (user + system), which a loaded machine hardly
# inflates, and wall-clock time, which it does.
#   usage: scripts/bench-datapath.sh [ROUNDS]   (default 200 blocks per run)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
out=$(go test -run '^$' -bench '^BenchmarkBlockOverhead$' -benchtime "${rounds}x" -count 5 ./chunk)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$out" | awk -v bench=BenchmarkBlockOverhead -v order="none/put none/get lz4/put lz4/get zstd/put zstd/get" -f scripts/overhead.awk
