# throwaway-redis.sh: what the benchmark scripts share, sourced by them.
#
#   need TOOL...          exit with a message unless every TOOL is installed
#   throwaway_redis NAME  make $work (a temporary directory) and start a
#                         redis-server without persistence on $PORT in it;
#                         both go at exit. Sets url=redis://127.0.0.1:$PORT.

need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$(basename "$0"): $tool is needed" >&2; exit 1; }
	done
}

throwaway_redis() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/rueidisfs-$1.XXXXXX")
	trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
	redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
		--daemonize yes --logfile "$work/redis.log"
	for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	url=redis://127.0.0.1:$PORT
}
