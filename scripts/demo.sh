#!/usr/bin/env bash
# demo.sh: set up everything rueidisfs needs on a fresh Debian machine that
# has Go, then run the main job against a volume and show its status.
#
#   ./scripts/demo.sh                       throwaway redis-server, removed at the end
#   META_URL=redis://host:6379/5 ./scripts/demo.sh   use that database instead
#
# Environment: META_URL (a database to use; it must be empty or hold the
# volume already), VOLUME (volume name, default "demo").
set -euo pipefail

cd "$(dirname "$0")/.."
VOLUME=${VOLUME:-demo}

say() { printf '\n==> %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "demo.sh: '$*' needs root, and sudo is not installed" >&2
		exit 1
	fi
}

command -v go >/dev/null || { echo "demo.sh: Go is not installed (https://go.dev/dl/, 1.26 or newer)" >&2; exit 1; }

if ! command -v redis-server >/dev/null; then
	say "Installing redis-server with apt"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/rueidisfs-demo.XXXXXX")
redis_pid=""
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	rm -rf "$workdir"
}
trap cleanup EXIT

# listening PORT tells whether something accepts connections on PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_redis PORT starts redis-server on PORT and waits until it listens;
# it fails if the server exits (for example because the port is taken).
start_redis() {
	redis-server --port "$1" --bind 127.0.0.1 --dir "$workdir" --save "" --appendonly yes \
		--logfile "$workdir/redis.log" &
	redis_pid=$!
	for _ in $(seq 100); do
		listening "$1" && return 0
		if ! kill -0 "$redis_pid" 2>/dev/null; then
			wait "$redis_pid" 2>/dev/null || true
			redis_pid=""
			return 1
		fi
		sleep 0.1
	done
	return 1
}

if [ -z "${META_URL:-}" ]; then
	# Ports below Linux's ephemeral range (32768+), so that no outgoing
	# connection holds the one chosen.
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 12000))
		listening "$port" && continue
		say "Starting a throwaway redis-server on 127.0.0.1:$port (in $workdir)"
		if start_redis "$port"; then
			META_URL="redis://127.0.0.1:$port/1"
			break
		fi
	done
	if [ -z "${META_URL:-}" ]; then
		echo "demo.sh: could not start redis-server; its log:" >&2
		cat "$workdir/redis.log" >&2 || true
		exit 1
	fi
fi

say "Building rueidisfs"
go build -buildvcs=auto -o "$workdir/rueidisfs" ./cmd/rueidisfs
rueidisfs="$workdir/rueidisfs"
"$rueidisfs" version

say "Formatting volume $VOLUME"
"$rueidisfs" format "$META_URL" "$VOLUME" --bucket "$workdir/bucket" --no-update

# --- main job ---------------------------------------------------------------
# The metadata workload: juicefs mdtest's tree and create phase (the flags of
# the reference measurement in the README), then stat, readdir, rename and
# remove phases, with the client-side cache and transaction counters.
say "Main job: rueidisfs mdtest"
"$rueidisfs" mdtest "$META_URL" "/mdtest-$(date +%s)" --threads 4 --dirs 3 --depth 3 --files 20 --phases all --stats
# -----------------------------------------------------------------------------

say "Volume status"
"$rueidisfs" --quiet status "$META_URL"
