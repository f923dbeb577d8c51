#!/usr/bin/env bash
# bench-fileio.sh — sequential 1 GiB write then read, and 1,000 files of
# 128 KiB written then read, through the rueidisfs file API (Go benchmarks
# BenchmarkBigFile and BenchmarkSmallFiles of package fileio) and through an
# official `juicefs mount`, on `file` buckets in the same directory, without
# a disk cache on either side, reads after a remount (fresh caches).
#
#   usage: scripts/bench-fileio.sh [DIR]
#   DIR holds the buckets (default /dev/shm); JUICEFS names the official
#   client (default: juicefs in PATH); BENCH_BIG_MIB and BENCH_SMALL_FILES
#   change the sizes; REDIS_PORT the port of the Redis it starts (7499).
# Needs root (FUSE), redis-server, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/dev/shm}
juicefs=${JUICEFS:-juicefs}
big=${BENCH_BIG_MIB:-1024}
small=${BENCH_SMALL_FILES:-1000}
port=${REDIS_PORT:-7499}
work=$(mktemp -d "$dir/bench-fileio.XXXXXX")
mnt=$(mktemp -d /tmp/bench-fileio-mnt.XXXXXX)
meta=redis://127.0.0.1:$port/1
cleanup() {
	"$juicefs" umount "$mnt" >/dev/null 2>&1 || true
	[ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
	rm -rf "$work" "$mnt"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB, buckets in $dir ($(df -T "$dir" | awk 'NR==2{print $2}'))"

# rueidisfs, through the Go file API
ours=$(BENCH_BUCKET_DIR=$work BENCH_BIG_MIB=$big BENCH_SMALL_FILES=$small \
	go test -run '^$' -bench '^(BenchmarkBigFile|BenchmarkSmallFiles)$' -benchtime 1x ./fileio)
metric() { echo "$ours" | awk -v b="$1" -v m="$2" '$1 ~ "^"b {for (i = 3; i < NF; i += 2) if ($(i+1) == m) print $i}'; }

# the official client, through its mount
redis-server --port "$port" --save "" --appendonly no --dir "$work" --daemonize yes --pidfile "$work/redis.pid" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$juicefs" format --storage file --bucket "$work/jfs" "$meta" bench >/dev/null 2>&1
mount_jfs() { "$juicefs" mount -d --cache-size 0 --no-usage-report --log "$work/jfs.log" "$meta" "$mnt" >/dev/null 2>&1; }
remount() { "$juicefs" umount "$mnt" >/dev/null 2>&1; mount_jfs; }
head -c $((big << 20)) /dev/urandom > "$work/src"
mount_jfs
t0=$(date +%s.%N); dd if="$work/src" of="$mnt/big" bs=1M conv=fsync status=none; t1=$(date +%s.%N)
remount
t2=$(date +%s.%N); dd if="$mnt/big" of=/dev/null bs=1M status=none; t3=$(date +%s.%N)
rm -f "$work/src"
swrite=$(python3 - "$mnt" "$small" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2]); data = os.urandom(128 << 10)
os.mkdir(os.path.join(d, "small")); t = time.time()
for i in range(n):
    with open(os.path.join(d, "small", str(i)), "wb") as f: f.write(data)
print(n / (time.time() - t))
PY
)
remount
sread=$(python3 - "$mnt" "$small" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2]); t = time.time()
for i in range(n):
    with open(os.path.join(d, "small", str(i)), "rb") as f: f.read()
print(n / (time.time() - t))
PY
)

printf '\n%-36s %12s %12s\n' "" "rueidisfs" "juicefs"
printf '%-36s %12.0f %12.0f\n' "big file write (MiB/s, $big MiB)" "$(metric BenchmarkBigFile write-MiB/s)" "$(echo "$big / ($t1 - $t0)" | bc -l)"
printf '%-36s %12.0f %12.0f\n' "big file read (MiB/s)" "$(metric BenchmarkBigFile read-MiB/s)" "$(echo "$big / ($t3 - $t2)" | bc -l)"
printf '%-36s %12.0f %12.0f\n' "small files write (files/s, $small)" "$(metric BenchmarkSmallFiles write-files/s)" "$swrite"
printf '%-36s %12.0f %12.0f\n' "small files read (files/s)" "$(metric BenchmarkSmallFiles read-files/s)" "$sread"
