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
echo "$out" | awk -v bench=BenchmarkOverhead -v order="aes256gcm-rsa/put aes256gcm-rsa/get chacha20-rsa/put chacha20-rsa/get" -f scripts/overhead.awk
