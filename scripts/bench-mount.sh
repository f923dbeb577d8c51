#!/usr/bin/env bash
# bench-mount.sh — the official `juicefs mount` and `rueidisfs mount` side by
# side, each on a volume of its own in the same Redis, with `file` buckets in
# the same directory and default options:
#   * the FUSE round trip of the machine (getattr of a no-op go-fuse mount);
#   * metadata through FUSE: create, stat, readdir (with attributes), rename
#     and unlink of BENCH_FILES (10,000) empty files, 1 and 4 threads;
#   * `juicefs bench` (1 GiB big file, 100 small files of 128 KiB) on both
#     mounts, with the CPU time each mount process spent per GiB.
# Every run is printed as it ends; a summary follows: per row, the medians
# of the rounds side by side with their ratio, and the CPU time per
# operation of each mount process, of Redis and of mdbench itself (its
# system calls: the kernel's side of FUSE), steadier than throughput on a
# shared machine.
#
#   usage: scripts/bench-mount.sh [DIR]
#   DIR holds the buckets and caches (default: a directory in /tmp); JUICEFS
#   names the official client (default: juicefs in PATH); REDIS_PORT the port
#   of the Redis it starts (7598); BENCH_FILES the number of files; ROUNDS
#   how many times each measurement runs, alternating the two mounts (3: on
#   a shared machine single runs vary by a factor of two); MOUNT_PREFIX the
#   mount points' prefix (/mnt/mount-bench: -ours and -official are added);
#   SKIP "metadata" or "bench" leaves that part out.
# Needs root (FUSE, dropping the page cache), redis-server, Go.
set -euo pipefail
cd "$(dirname "$0")/.."
juicefs=${JUICEFS:-juicefs}
port=${REDIS_PORT:-7598}
files=${BENCH_FILES:-10000}
rounds=${ROUNDS:-3}
work=$(mktemp -d "${1:-/tmp}/bench-mount.XXXXXX")
prefix=${MOUNT_PREFIX:-/mnt/mount-bench}
ours=$prefix-ours
theirs=$prefix-official
skip=${SKIP:-}
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
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
results=$work/results # lines: part row side value [mount-cpu redis-cpu mdbench-cpu]
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB;" \
	"buckets in $work ($(df -T "$work" | awk 'NR==2{print $2}')); $(redis-server --version | cut -d' ' -f1-3); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Redis round trip (redis-cli --latency for 3 s): $(timeout 3 redis-cli -p "$port" --latency --raw 2>/dev/null | awk 'END {printf "min %s ms, max %s ms, avg %s ms", $1, $2, $3}')"

"$work/rueidisfs" format "redis://127.0.0.1:$port/1" ours --bucket "$work/bucket-ours" >/dev/null 2>&1
"$juicefs" format --storage file --bucket "$work/bucket-official" "redis://127.0.0.1:$port/2" official >/dev/null 2>&1
mkdir -p "$ours" "$theirs"
"$work/rueidisfs" mount -d --log "$work/ours.log" --cache-dir "$work/cache-ours" "redis://127.0.0.1:$port/1" "$ours" >/dev/null
"$juicefs" mount -d --no-usage-report --log "$work/official.log" --cache-dir "$work/cache-official" "redis://127.0.0.1:$port/2" "$theirs" >/dev/null 2>&1

echo
echo "== FUSE round trip (no-op go-fuse file system)"
"$work/mdbench" -floor -n 100000

if [ "$skip" != metadata ]; then
	echo
	echo "== metadata through FUSE ($files empty files)"
	for threads in 1 4; do
		for round in $(seq "$rounds"); do
			for side in official ours; do
				mp=$theirs
				[ "$side" = ours ] && mp=$ours
				echo "-- $side, $threads thread(s), round $round"
				"$work/mdbench" -dir "$mp/md-$threads" -files "$files" -threads "$threads" -mount "$mp" -redis-pid "$(cat "$work/redis.pid")" >"$work/md.out"
				cat "$work/md.out"
				awk -v s="$side" -v t="$threads" '{print "metadata", $1 "/" t, s, $6, $8, $12, $16}' "$work/md.out" >>"$results"
			done
		done
	done
fi

# cpu MOUNTPOINT: the CPU seconds the mount process has used.
cpu() { awk '$1 == "juicefs_cpu_usage" {print $2}' "$1/.stats"; }
if [ "$skip" != bench ]; then
	echo
	echo "== juicefs bench (1 GiB big file, 100 small files of 128 KiB)"
	for round in $(seq "$rounds"); do for side in official ours; do
		mp=$theirs
		[ "$side" = ours ] && mp=$ours
		echo "-- $side, round $round"
		before=$(cpu "$mp")
		"$juicefs" bench "$mp" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >"$work/bench.out"
		after=$(cpu "$mp")
		cat "$work/bench.out"
		per=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", (b - a) / 2.025}')
		echo "CPU of the mount process: $per s per GiB moved (2 GiB of big file, 25 MiB of small files)"
		awk -F'|' -v s="$side" '$2 ~ /(Write|Read) (big|small) file|Stat file/ {
			row = $2; gsub(/^ +| +$/, "", row); gsub(/ /, "-", row); v = $3; sub(/^ */, "", v); split(v, f, " ")
			print "bench", row, s, f[1] + 0 }' "$work/bench.out" >>"$results"
		echo "bench CPU-s/GiB $side $per" >>"$results"
	done; done
fi

# The summary: medians of the rounds, ours next to official.
echo
echo "== summary: medians of $rounds rounds (load now $(cut -d' ' -f1-3 /proc/loadavg))"
awk "$(cat scripts/lib/median.awk)"'
{ k = $1 " " $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
  v[k, $3] = v[k, $3] " " $4
  if (NF >= 7) { mc[k, $3] = mc[k, $3] " " $5; rc[k, $3] = rc[k, $3] " " $6; bc[k, $3] = bc[k, $3] " " $7 } }
END {
	printf "%-26s %12s %12s %7s   %s\n", "row", "official", "ours", "ratio", "CPU µs/op mount+Redis+mdbench (official | ours)"
	for (i = 1; i <= n; i++) {
		k = order[i]; o = median(v[k, "official"]); u = median(v[k, "ours"])
		r = (k ~ /CPU/) ? (u > 0 ? o / u : 0) : (o > 0 ? u / o : 0)
		cpu = ""
		if (mc[k, "ours"] != "") cpu = sprintf("%.0f+%.0f+%.0f | %.0f+%.0f+%.0f", median(mc[k, "official"]), median(rc[k, "official"]),
			median(bc[k, "official"]), median(mc[k, "ours"]), median(rc[k, "ours"]), median(bc[k, "ours"]))
		printf "%-26s %12.1f %12.1f %6.2fx   %s\n", k, o, u, r, cpu
	}
	print "(ratio: ours/official; for CPU-s/GiB official/ours, above 1 when ours uses less)"
}' "$results"
