#!/usr/bin/env bash
# demo.sh: set up everything rueidisfs needs on a fresh Debian machine that
# has Go, then format a volume, mount it, work in the mount, show the
# volume's status with the mount's session, and unmount it.
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

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v fusermount3 >/dev/null || packages+=(fuse3)
if [ ${#packages[@]} -gt 0 ]; then
	say "Installing ${packages[*]} with apt"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi
[ -e /dev/fuse ] || { echo "demo.sh: /dev/fuse is missing: this machine cannot mount FUSE file systems" >&2; exit 1; }

workdir=$(mktemp -d "${TMPDIR:-/tmp}/rueidisfs-demo.XXXXXX")
redis_pid=""
mnt=""
cleanup() {
	if [ -n "$mnt" ] && mountpoint -q "$mnt"; then
		"$workdir/rueidisfs" umount --force "$mnt" || true
	fi
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
# Mount the volume in the background, use it as any directory, and look at
# it from the tools' side.
mnt="$workdir/mnt"
say "Mounting $VOLUME on $mnt"
"$rueidisfs" mount -d --log "$workdir/mount.log" --cache-dir "$workdir/cache" "$META_URL" "$mnt"

say "Working in the mount"
cp -r /etc/apt "$mnt/apt"
echo "hello from rueidisfs" >"$mnt/hello.txt"
cat "$mnt/hello.txt"
ls -la "$mnt"
df -h "$mnt"
flock "$mnt/hello.txt" -c 'echo "holding a lock the volume keeps (a juicefs mount would wait for it)"'

say "Benchmark through the mount"
"$rueidisfs" bench "$mnt" --big-file-size 64 --small-file-count 50 -p 2

say "Volume status (the mount's session)"
"$rueidisfs" --quiet status "$META_URL"

say "Unmounting"
"$rueidisfs" umount "$mnt"
mnt=""
# -----------------------------------------------------------------------------
