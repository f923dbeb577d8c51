#!/usr/bin/env bash
# bench-compare.sh: BenchmarkMetaOps (package meta) next to JuiceFS 1.4.1's
# own metadata benchmark, on one throwaway redis-server, in alternating
# rounds, with the medians side by side, the ratio, and each operation's
# time over one measured round trip.
#
#   ./scripts/bench-compare.sh                     rueidisfs only
#   ./scripts/bench-compare.sh /path/to/juicefs    a JuiceFS source tree (v1.4.1)
#
# With a JuiceFS source tree, its metadata benchmark (pkg/meta, the
# function behind BenchmarkRedis) is compiled with `go test` from that tree,
# unchanged: `go test -overlay` adds one file of this script's own, an entry
# point that takes the meta URL from the environment (JuiceFS's benchmark
# has its Redis address built in). It runs twice per round: as is, and with
# JuiceFS's client-side cache (client-cache=true). The compiled benchmark is
# kept in $CACHE_DIR for the next run; a JUICEFS argument naming a file
# instead of a directory is taken to be such a compiled benchmark.
#
# Environment: ROUNDS (default 3), ITER (iterations of each operation,
# default 2000), PORT (of the throwaway redis-server, default 7790), BENCH
# (a regular expression of the operations to run, default all), CACHE_DIR
# (default ~/.cache/rueidisfs-bench), GOMAXPROCS (when set, the Go
# processors of both clients' benchmark processes; see "One processor" in
# docs/performance.md). Needs redis-server, redis-cli, redis-benchmark, go.
#
# Every figure is µs per operation, the median over the rounds and their
# range; the ratio is taken round by round. "over RTT"
# is rueidisfs's time minus one round trip (a PING through the same
# client, measured in the same rounds): the client's work plus Redis'
# work for a mutation, which costs exactly one round trip. A second table
# splits rueidisfs's operations into the client's and Redis' CPU time (the
# meter of BenchmarkMetaOps).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
ITER=${ITER:-2000}
PORT=${PORT:-7790}
BENCH=${BENCH:-.}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rueidisfs-bench}
JUICEFS=${1:-}

. scripts/lib/throwaway-redis.sh
need redis-server redis-cli redis-benchmark go
throwaway_redis bench-compare

echo "==> building BenchmarkMetaOps"
go test -c -o "$work/meta.test" ./meta

jfs_test=""
if [ -n "$JUICEFS" ] && [ -d "$JUICEFS" ]; then
	[ -f "$JUICEFS/pkg/meta/benchmarks_test.go" ] ||
		{ echo "bench-compare.sh: $JUICEFS is not a JuiceFS source tree (no pkg/meta/benchmarks_test.go)" >&2; exit 1; }
	rev=$(git -C "$JUICEFS" rev-parse --short HEAD 2>/dev/null || echo unknown)
	mkdir -p "$CACHE_DIR"
	jfs_test=$CACHE_DIR/juicefs-meta-$rev.test
	if [ "$rev" = unknown ] || [ ! -x "$jfs_test" ]; then
		echo "==> building JuiceFS's metadata benchmark from $JUICEFS (a few minutes the first time)"
		cat >"$work/url_bench_test.go" <<-'EOF'
			package meta

			import (
				"os"
				"testing"
			)

			// BenchmarkRedisURL runs JuiceFS's metadata benchmarks on the
			// Redis database JFS_BENCH_META names.
			func BenchmarkRedisURL(b *testing.B) { benchmarkAll(b, NewClient(os.Getenv("JFS_BENCH_META"), nil)) }
		EOF
		printf '{"Replace":{"%s":"%s"}}\n' "$(cd "$JUICEFS" && pwd)/pkg/meta/zz_rueidisfs_url_bench_test.go" \
			"$work/url_bench_test.go" >"$work/overlay.json"
		(cd "$JUICEFS" && go test -overlay "$work/overlay.json" -c -o "$jfs_test" ./pkg/meta)
	fi
elif [ -n "$JUICEFS" ]; then
	[ -x "$JUICEFS" ] || { echo "bench-compare.sh: $JUICEFS is neither a JuiceFS source tree nor an executable" >&2; exit 1; }
	jfs_test=$JUICEFS
fi


# run LABEL DB COMMAND...: one benchmark run; "LABEL op ns round" lines go
# to the results ($r is the round).
run() {
	local label=$1 db=$2; shift 2
	redis-cli -p "$PORT" -n "$db" flushdb >/dev/null
	"$@" -test.run '^$' -test.benchtime "${ITER}x" >"$work/out" 2>"$work/err" ||
		{ cat "$work/out" "$work/err" >&2; exit 1; }
	awk -v l="$label" -v want="$BENCH" -v r="$r" '
		/^Benchmark/ && $4 == "ns/op" {
			name = $1; sub(/-[0-9]+$/, "", name); n = split(name, p, "/"); op = p[n]
			c = l; if (name ~ /cache=false/) c = l "-off"
			if (!(op ~ want || op == "roundtrip")) next
			print c, op, $3, r
			# the meter of BenchmarkMetaOps (CPU µs per operation), in ns
			for (i = 5; i < NF; i += 2) {
				m = $(i + 1); sub(/-µs\/op$/, "", m)
				if (m == "client" || m == "redis" || m == "script") print c "-" m, op, $i * 1000, r
			} }' "$work/out" >>"$work/results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
	echo "==> round $r of $ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
	RUEIDISFS_BENCH_META=$url/1 run rueidisfs 1 "$work/meta.test" -test.bench "BenchmarkMetaOps/cache=/(^roundtrip\$|$BENCH)"
	if [ -n "$jfs_test" ]; then
		JFS_BENCH_META=$url/2 run juicefs 2 "$jfs_test" -test.bench "BenchmarkRedisURL/($BENCH)"
		JFS_BENCH_META="$url/3?client-cache=true" run juicefs-cc 3 "$jfs_test" -test.bench "BenchmarkRedisURL/($BENCH)"
	fi
	redis-benchmark -p "$PORT" -c 1 -n 20000 -t ping -q 2>/dev/null | tr '\r' '\n' |
		awk -v r="$r" '/PING_MBULK: [0-9.]+ requests per second/ { print "redis-benchmark ping", 1e9 / $2, r }' >>"$work/results"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "Machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $(redis-server --version | awk '{print $3}'), loopback"
echo "Load average: $load_before before, $load_after after; $ROUNDS rounds of $ITER iterations"
[ -z "${GOMAXPROCS:-}" ] || echo "GOMAXPROCS=$GOMAXPROCS for every benchmark process (both clients)"
awk -v jfs="$jfs_test" -v rounds="$ROUNDS" "$(cat scripts/lib/median.awk)"'
	{
		v[$1 SUBSEP $2] = v[$1 SUBSEP $2] " " $3; at[$1 SUBSEP $2 SUBSEP $4] = $3
		if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
	}
	function us(ns) { if (ns == "") return "-"; ns /= 1000; return ns < 10 ? sprintf("%.2f", ns) : sprintf("%.0f", ns) }
	# cell: the median of a column and, over more than one round, its range
	function cell(s,   a, k) {
		k = sorted(s, a); if (k == 0) return "-"
		return k == 1 ? us(a[1]) : sprintf("%s [%s–%s]", us(median(s)), us(a[1]), us(a[k]))
	}
	# ratios: rueidisfs over the faster JuiceFS column, round by round
	function ratios(op,   r, o, j, jc, s) {
		for (r = 1; r <= rounds; r++) {
			o = at["rueidisfs" SUBSEP op SUBSEP r]; j = at["juicefs" SUBSEP op SUBSEP r]; jc = at["juicefs-cc" SUBSEP op SUBSEP r]
			if (jc != "" && (j == "" || jc + 0 < j + 0)) j = jc
			if (o != "" && j > 0) s = s " " o / j
		}
		return s
	}
	function ratiocell(s,   a, k) {
		k = sorted(s, a); if (k == 0) return "-"
		return k == 1 ? sprintf("%.2f", a[1]) : sprintf("%.2f [%.2f–%.2f]", median(s), a[1], a[k])
	}
	END {
		rtt = median(v["rueidisfs" SUBSEP "roundtrip"])
		printf "Round trip: %s µs (PING through rueidisfs'"'"' client), %s µs (redis-benchmark PING, one connection)\n\n", cell(v["rueidisfs" SUBSEP "roundtrip"]), cell(v["redis-benchmark" SUBSEP "ping"])
		print "µs per operation, median [min–max] over the rounds.\n"
		if (jfs != "") {
			print "| operation | rueidisfs | cache off | JuiceFS | JuiceFS client-cache | ratio | over RTT |"
			print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		} else {
			print "| operation | rueidisfs | cache off | over RTT |"
			print "| --- | ---: | ---: | ---: |"
		}
		for (i = 1; i <= n; i++) {
			op = order[i]; if (op == "roundtrip" || op == "ping") continue
			ours = median(v["rueidisfs" SUBSEP op])
			over = (ours != "" && ours > rtt) ? us(ours - rtt) : "-"
			if (jfs == "") { printf "| %s | %s | %s | %s |\n", op, cell(v["rueidisfs" SUBSEP op]), cell(v["rueidisfs-off" SUBSEP op]), over; continue }
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", op, cell(v["rueidisfs" SUBSEP op]), cell(v["rueidisfs-off" SUBSEP op]),
				cell(v["juicefs" SUBSEP op]), cell(v["juicefs-cc" SUBSEP op]), ratiocell(ratios(op)), over
		}
		if (jfs != "") print "\nratio: rueidisfs (cache on) over the faster of the two JuiceFS columns, round by round."
		print "\nWhere the time of rueidisfs (cache on) goes, µs per operation (medians): the time,"
		print "the CPU time of the client process (every thread) and of Redis, and the time"
		print "Redis spent in scripts (INFO commandstats), as BenchmarkMetaOps measures them:\n"
		print "| operation | time | client CPU | Redis CPU | of which scripts |"
		print "| --- | ---: | ---: | ---: | ---: |"
		for (i = 1; i <= n; i++) {
			op = order[i]; if (op == "ping") continue
			printf "| %s | %s | %s | %s | %s |\n", op, us(median(v["rueidisfs" SUBSEP op])), us(median(v["rueidisfs-client" SUBSEP op])),
				us(median(v["rueidisfs-redis" SUBSEP op])), us(median(v["rueidisfs-script" SUBSEP op]))
		}
	}' "$work/results"
