# overhead.awk — the table of a benchmark that alternates a physical limit
# and rueidisfs's code item by item (internal/benchclock): for each case,
# in the order given by -v order="a b c", the medians over the runs
# (-count) of the limit's and our CPU time and wall-clock time per block,
# and our overhead. -v bench names the benchmark (BenchmarkOverhead).
function median(name,   n, i, j, t, v) {
	n = split(vals[name], v, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return v[int((n + 1) / 2)]
}
$1 ~ "^" bench "/" {
	name = $1; sub("^" bench "/", "", name); sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) vals[name "|" $(i + 1)] = vals[name "|" $(i + 1)] " " $i
}
END {
	printf "%-22s %10s %10s %9s   %10s %10s %9s\n", "4 MiB block", "limit cpu", "ours cpu", "overhead", "limit wall", "ours wall", "overhead"
	n = split(order, cases, " ")
	for (k = 1; k <= n; k++) {
		c = cases[k]
		printf "%-22s %8.0fµs %8.0fµs %8.1f%%   %8.0fµs %8.0fµs %8.1f%%\n", c,
			median(c "|limit-cpu-µs/block"), median(c "|ours-cpu-µs/block"), median(c "|cpu-overhead-%"),
			median(c "|limit-µs/block"), median(c "|ours-µs/block"), median(c "|overhead-%")
	}
}
