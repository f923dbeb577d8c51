package cli

import "testing"

// TestMountDataFlagErrors: a bad value of a data-path option is refused in
// one line before anything is opened (the META-URL is not even reached).
func TestMountDataFlagErrors(t *testing.T) {
	url := "redis://127.0.0.1:1/1" // nothing listens: the flags are checked first
	mp := t.TempDir()
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--cache-eviction", "fifo"}, `unknown cache eviction policy "fifo"`},
		{[]string{"--verify-cache-checksum", "all"}, `invalid value "all" for --verify-cache-checksum`},
		{[]string{"--writeback", "--upload-hours", "8-24"}, `invalid upload hours "8-24"`},
		{[]string{"--upload-delay", "soon"}, `invalid value "soon" for --upload-delay`},
		{[]string{"--cache-expire", "x"}, `invalid value "x" for --cache-expire`},
		{[]string{"--cache-items", "-1"}, `invalid value -1 for --cache-items`},
		{[]string{"--writeback-threshold-size", "1Q"}, `invalid value "1Q" for --writeback-threshold-size`},
		{[]string{"--cache-dir", "/nonexistent-dir-*"}, `no cache directory in "/nonexistent-dir-*"`},
		{[]string{"--max-readahead", "lots"}, `invalid value "lots" for --max-readahead`},
	} {
		run(t, append(append([]string{"mount"}, tc.flags...), url, mp)...).fails(t, tc.want)
	}
}
