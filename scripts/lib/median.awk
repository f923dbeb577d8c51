# median.awk — the sort and the median the benchmark scripts' summaries use,
# prepended to their awk programs. A list is a string of numbers separated
# by spaces (one per round).

# sorted splits list s into a, sorts it in ascending numeric order and
# returns its length.
function sorted(s, a,   k, i, j, t) {
	k = split(s, a, " ")
	for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > t + 0; j--) a[j+1] = a[j]; a[j+1] = t }
	return k
}

# median of list s: the middle value, or the mean of the two middle values;
# "" for an empty list.
function median(s,   a, k) {
	k = sorted(s, a); if (k == 0) return ""
	return (k % 2) ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
}
