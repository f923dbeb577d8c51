#!/usr/bin/env bash
# bench-backup.sh: time and peak memory of binary metadata backups, dump
# and load, of a volume of FILES files (default 1,000,000), for rueidisfs and,
# when JUICEFS names an official juicefs binary, for juicefs on the same
# Redis, side by side. Every load is checked: the loaded volume must dump
# (as JSON) exactly as the original.
#
#   ./scripts/bench-backup.sh                          rueidisfs only
#   JUICEFS=/path/to/juicefs RUNS=3 ./scripts/bench-backup.sh
#
# Environment: FILES (files in the volume), RUNS (runs of each step,
# default 3), PORT (of the throwaway redis-server, default 7690), JUICEFS.
# Needs redis-server and GNU time (/usr/bin/time) on this machine.
set -euo pipefail

cd "$(dirname "$0")/.."
FILES=${FILES:-1000000}
RUNS=${RUNS:-3}
PORT=${PORT:-7690}
JUICEFS=${JUICEFS:-}

. scripts/lib/throwaway-redis.sh
need redis-server redis-cli /usr/bin/time
throwaway_redis bench-backup
make build >/dev/null
rueidisfs=$PWD/bin/rueidisfs

# A tree of 111 directories (10 wide, 2 deep), the files spread over 4
# threads, each file with one slice of 4 KiB (metadata only).
per=$(( (FILES + 443) / 444 ))
echo "==> making a volume of $((per * 444)) files"
"$rueidisfs" -q format "$url/1" bench --bucket "$work/bucket"
"$rueidisfs" -q mdtest "$url/1" /bench --threads 4 --dirs 10 --depth 2 --files "$per" --write 4096
"$rueidisfs" -q dump "$url/1" "$work/want.json"

# measure NAME COMMAND...: appends "NAME seconds KiB" to the results.
measure() {
	local name=$1; shift
	/usr/bin/time -o "$work/time" -f "%e %M" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	echo "$name $(cat "$work/time")" >>"$work/results"
}

# check DB: the volume loaded into DB dumps as the original did.
check() {
	"$rueidisfs" -q dump "$url/$1" "$work/got.json"
	cmp -s "$work/want.json" "$work/got.json" || { echo "bench-backup.sh: the volume loaded into db $1 differs" >&2; exit 1; }
	redis-cli -p "$PORT" -n "$1" flushdb >/dev/null
}

clients=(rueidisfs)
[ -n "$JUICEFS" ] && clients+=(juicefs)
for run in $(seq "$RUNS"); do
	echo "==> run $run of $RUNS"
	for c in "${clients[@]}"; do
		bin=$rueidisfs
		[ "$c" = juicefs ] && bin=$JUICEFS
		measure "$c-dump" "$bin" dump --binary "$url/1" "$work/$c.bin"
		measure "$c-load" "$bin" load "$url/2" "$work/$c.bin" --binary
		check 2
	done
	if [ -n "$JUICEFS" ]; then # each client loads the other's backup
		measure "rueidisfs-load-of-juicefs" "$rueidisfs" load "$url/2" "$work/juicefs.bin" --binary
		check 2
		measure "juicefs-load-of-rueidisfs" "$JUICEFS" load "$url/2" "$work/rueidisfs.bin" --binary
		check 2
	fi
done

echo
echo "Redis round trip: $("$rueidisfs" status "$url/1" 2>&1 | sed -n 's/.*Ping redis latency: \([^ ]*\).*/\1/p')"
echo "backup sizes: $(cd "$work" && ls -l ./*.bin | awk '{printf "%s %d MiB  ", $9, $5/1048576}')"
printf '%-28s %-24s %s\n' step "seconds (min-max)" "peak RSS MiB (min-max)"
sort -k1,1 -s "$work/results" | awk '
	{ n[$1]++; t=$2; m=$3/1024
	  if (!($1 in tmin) || t < tmin[$1]) tmin[$1]=t; if (t > tmax[$1]) tmax[$1]=t
	  if (!($1 in mmin) || m < mmin[$1]) mmin[$1]=m; if (m > mmax[$1]) mmax[$1]=m }
	END { for (k in n) printf "%-28s %-24s %s\n", k, sprintf("%.1f-%.1f", tmin[k], tmax[k]), sprintf("%.0f-%.0f", mmin[k], mmax[k]) }' | sort
