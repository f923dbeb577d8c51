package codec

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		str  string
	}{
		{"1.4.1", Version{1, 4, 1, "", ""}, "1.4.1"},
		{"1.4.1+2026-07-30.0b90c7d", Version{1, 4, 1, "", "2026-07-30.0b90c7d"}, "1.4.1+2026-07-30.0b90c7d"},
		{"1.1.0-A", Version{1, 1, 0, "A", ""}, "1.1.0-A"},
		{"1.2.0-beta1+unknown", Version{1, 2, 0, "beta1", "unknown"}, "1.2.0-beta1+unknown"},
		{"1.2.3-rc-1", Version{1, 2, 3, "rc-1", ""}, "1.2.3-rc-1"},
		{"2", Version{2, 0, 0, "", ""}, "2.0.0"},
		{"2.1", Version{2, 1, 0, "", ""}, "2.1.0"},
		{"01.02.03", Version{1, 2, 3, "", ""}, "1.2.3"},
		{"1.0.0+a-b+c", Version{1, 0, 0, "", "a-b+c"}, "1.0.0+a-b+c"},
	}
	for _, tt := range tests {
		v, err := ParseVersion(tt.in)
		if err != nil || v != tt.want || v.String() != tt.str {
			t.Errorf("ParseVersion(%q) = %+v (%q), %v", tt.in, v, v.String(), err)
		}
	}
	for _, bad := range []string{"", "a", "1.2.3.4", "1..2", "1.2.", "-1.0.0", "+1", "1.x", "1.2.3 ", "v1.2.3", "1.-2"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want error", bad, v)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// Each version is lower than the next one.
	ordered := []string{"0.9.9", "1.0.0-rc1", "1.0.0", "1.1.0-A", "1.1.0-B", "1.1.0-a", "1.1.0",
		"1.1.1", "1.2.0-A", "1.4.0-A", "1.4.1-beta", "1.4.1", "1.10.0", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			a, _ := ParseVersion(ordered[i])
			b, _ := ParseVersion(ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := CompareVersions(a, b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	a, _ := ParseVersion("1.4.1+x")
	b, _ := ParseVersion("1.4.1+y")
	if CompareVersions(a, b) != 0 {
		t.Error("build metadata compared")
	}
}
