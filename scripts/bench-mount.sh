#!/usr/bin/env bash
# bench-mount.sh — the official `juicefs mount` and `rueidisfs mount` side by
# side, each on a volume of its own in the same Redis, with `file` buckets in
# the same directory and default options:
#   * the FUSE round trip of the machine (getattr of a no-op go-fuse mount);
#   * metadata through FUSE: create, stat, readdir (with attributes), rename
#     and unlink of BENCH_FILES (10,000) empty files, 1 and 4 threads;
#   * `juicefs bench` (1 GiB big file, 100 small files of 128 KiB) on both
#     mounts, with the CPU time each mount process spent per GiB.
#
#   usage: scripts/bench-mount.sh [DIR]
#   DIR holds the buckets and caches (default: a directory in /tmp); JUICEFS
#   names the official client (default: juicefs in PATH); REDIS_PORT the port
#   of the Redis it starts (7598); BENCH_FILES the number of files; ROUNDS
#   how many times each measurement runs, alternating the two mounts (3: on
#   a shared machine single runs vary by a factor of two).
# Needs root (FUSE, dropping the page cache), redis-server, Go.
set -euo pipefail
cd "$(dirname "$0")/.."
juicefs=${JUICEFS:-juicefs}
port=${REDIS_PORT:-7598}
files=${BENCH_FILES:-10000}
rounds=${ROUNDS:-3}
work=$(mktemp -d "${1:-/tmp}/bench-mount.XXXXXX")
ours=/mnt/mount-bench-ours
theirs=/mnt/mount-bench-official
cleanup() {
	"$work/rueidisfs" umount --force "$ours" >/dev/null 2>&1 || true
	"$juicefs" umount --force "$theirs" >/dev/null 2>&1 || true
	[ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
	rm -rf "$work"
	rmdir "$ours" "$theirs" 2>/dev/null || true
}
trap cleanup EXIT

go build -o "$work/rueidisfs" ./cmd/rueidisfs
go build -o "$work/mdbench" ./internal/mounttest/mdbench
redis-server --port "$port" --save "" --appendonly no --dir "$work" --daemonize yes --pidfile "$work/redis.pid" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB;" \
	"buckets in $work ($(df -T "$work" | awk 'NR==2{print $2}')); $(redis-server --version | cut -d' ' -f1-3); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Redis round trip (redis-cli --latency for 3 s): $(timeout 3 redis-cli -p "$port" --latency --raw 2>/dev/null | awk 'END {printf "min %s ms, max %s ms, avg %s ms", $1, $2, $3}')"

"$work/rueidisfs" format "redis://127.0.0.1:$port/1" ours --bucket "$work/bucket-ours" >/dev/null 2>&1
"$juicefs" format --storage file --bucket "$work/bucket-official" "redis://127.0.0.1:$port/2" official >/dev/null 2>&1
"$work/rueidisfs" mount -d --log "$work/ours.log" --cache-dir "$work/cache-ours" "redis://127.0.0.1:$port/1" "$ours" >/dev/null
"$juicefs" mount -d --no-usage-report --log "$work/official.log" --cache-dir "$work/cache-official" "redis://127.0.0.1:$port/2" "$theirs" >/dev/null 2>&1

echo
echo "== FUSE round trip (no-op go-fuse file system)"
"$work/mdbench" -floor -n 100000

echo
echo "== metadata through FUSE ($files empty files)"
for threads in 1 4; do
	for round in $(seq "$rounds"); do
		for side in official ours; do
			mp=$theirs
			[ "$side" = ours ] && mp=$ours
			echo "-- $side, $threads thread(s), round $round"
			"$work/mdbench" -dir "$mp/md-$threads" -files "$files" -threads "$threads"
		done
	done
done

# cpu MOUNTPOINT: the CPU seconds the mount process has used.
cpu() { awk '$1 == "juicefs_cpu_usage" {print $2}' "$1/.stats"; }
echo
echo "== juicefs bench (1 GiB big file, 100 small files of 128 KiB)"
for round in $(seq "$rounds"); do for side in official ours; do
	mp=$theirs
	[ "$side" = ours ] && mp=$ours
	echo "-- $side, round $round"
	before=$(cpu "$mp")
	"$juicefs" bench "$mp" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g'
	after=$(cpu "$mp")
	awk -v a="$before" -v b="$after" 'BEGIN {printf "CPU of the mount process: %.2f s per GiB moved (2 GiB of big file, 25 MiB of small files)\n", (b - a) / 2.025}'
done; done
