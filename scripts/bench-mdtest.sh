#!/usr/bin/env bash
# bench-mdtest.sh: the mdtest curve. `rueidisfs mdtest` (and `juicefs
# mdtest` when JUICEFS names an official juicefs binary) creating files at
# 1, 2, 4, 8, 16 and 32 threads on one throwaway redis-server, alternating
# the two clients, with Redis' CPU next to each figure.
#
#   ./scripts/bench-mdtest.sh                       rueidisfs only
#   JUICEFS=/path/to/juicefs ./scripts/bench-mdtest.sh
#
# Each run is `mdtest META-URL PATH --threads T --dirs DIRS --depth DEPTH
# --files FILES` (3, 3, 20 by default: 40 directories, 800 files per
# thread) on a volume of its own client's format, in a fresh PATH.
#
# Environment: THREADS (default "1 2 4 8 16 32"), ROUNDS (default 5),
# DIRS, DEPTH, FILES, PORT (of the throwaway redis-server, default 7791),
# JUICEFS, GOMAXPROCS (when set, both clients' Go processors). Needs
# redis-server, redis-cli and bc.
#
# Printed per thread count, medians over the rounds: files created per
# second (and their range); Redis' CPU time (user + system) per file
# created, over the whole run, and the share of one core that makes at that
# rate; the client process's CPU time per file (start-up included).
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=${THREADS:-1 2 4 8 16 32}
ROUNDS=${ROUNDS:-5}
DIRS=${DIRS:-3}
DEPTH=${DEPTH:-3}
FILES=${FILES:-20}
PORT=${PORT:-7791}
JUICEFS=${JUICEFS:-}

. scripts/lib/throwaway-redis.sh
need redis-server redis-cli bc
throwaway_redis bench-mdtest
make build >/dev/null
rueidisfs=$PWD/bin/rueidisfs

"$rueidisfs" -q format "$url/1" bench --bucket "$work/bucket1"
clients=(rueidisfs)
if [ -n "$JUICEFS" ]; then
	"$JUICEFS" format --storage file --bucket "$work/bucket2" "$url/2" bench >/dev/null 2>&1 ||
		{ echo "bench-mdtest.sh: $JUICEFS format failed" >&2; exit 1; }
	clients+=(juicefs)
fi

# redis_cpu prints Redis' CPU seconds so far (user + system).
redis_cpu() { redis-cli -p "$PORT" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f", s }'; }

# run CLIENT THREADS ROUND: one mdtest; "client threads files/s cpu-share
# cpu-µs-per-file client-cpu-µs-per-file" goes to the results.
run() {
	local c=$1 t=$2 r=$3 bin=$rueidisfs db=1
	[ "$c" = juicefs ] && bin=$JUICEFS db=2
	local cpu0 cpu1 TIMEFORMAT='%U %S'
	cpu0=$(redis_cpu)
	{ time "$bin" mdtest "$url/$db" "/r$r-t$t" --threads "$t" --dirs "$DIRS" --depth "$DEPTH" --files "$FILES" \
		--no-bgjob >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }; } 2>"$work/time"
	cpu1=$(redis_cpu)
	sed -n 's/.*Created \([0-9]*\) files in .*(\([0-9.]*\) files\/s).*/\1 \2/p' "$work/out" | tail -1 |
		awk -v c="$c" -v t="$t" -v dc="$(echo "$cpu1 - $cpu0" | bc -l)" -v cc="$(awk '{ print $1 + $2 }' "$work/time")" \
			'{ printf "%s %s %s %.0f %.1f %.1f\n", c, t, $2, 100 * dc / $1 * $2, 1e6 * dc / $1, 1e6 * cc / $1 }' >>"$work/results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
	echo "==> round $r of $ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
	for t in $THREADS; do
		for c in "${clients[@]}"; do run "$c" "$t" "$r"; done
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rtt=$("$rueidisfs" status "$url/1" 2>&1 | sed -n 's/.*Ping redis latency: \([^ ]*\).*/\1/p')

echo
echo "Machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $(redis-server --version | awk '{print $3}'), loopback"
echo "Load average: $load_before before, $load_after after; $ROUNDS rounds; round trip $rtt (one PING at the end)"
[ -z "${GOMAXPROCS:-}" ] || echo "GOMAXPROCS=$GOMAXPROCS for both clients"
echo "mdtest --dirs $DIRS --depth $DEPTH --files $FILES: files created per second, median [min–max];"
echo "Redis CPU (share of one core at that rate, µs per file) and the client's CPU per file"
echo "(the whole process, start-up and directory tree included), medians"
echo
awk -v jfs="$JUICEFS" "$(cat scripts/lib/median.awk)"'
	{
		k = $1 SUBSEP $2; f[k] = f[k] " " $3; u[k] = u[k] " " $4; p[k] = p[k] " " $5; q[k] = q[k] " " $6
		if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
	}
	function cell(c, t,   k, a, m) {
		k = c SUBSEP t; m = sorted(f[k], a)
		return sprintf("%.0f [%.0f–%.0f] | %.0f %%, %.0f µs | %.0f µs", median(f[k]), a[1], a[m], median(u[k]), median(p[k]), median(q[k]))
	}
	END {
		if (jfs != "") {
			print "| threads | rueidisfs files/s | Redis CPU | client CPU | juicefs files/s | Redis CPU | client CPU | ratio |"
			print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		} else {
			print "| threads | rueidisfs files/s | Redis CPU | client CPU |"
			print "| ---: | ---: | ---: | ---: |"
		}
		for (i = 1; i <= n; i++) {
			t = order[i]
			if (jfs == "") { printf "| %s | %s |\n", t, cell("rueidisfs", t); continue }
			printf "| %s | %s | %s | %.2f |\n", t, cell("rueidisfs", t), cell("juicefs", t),
				median(f["rueidisfs" SUBSEP t]) / median(f["juicefs" SUBSEP t])
		}
	}' "$work/results"
