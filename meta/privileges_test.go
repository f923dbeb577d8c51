package meta_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// TestEachPrivilegeUsed tests the least-privilege list command by command:
// for each rule, a user holding every other rule runs aclOps (errors
// expected and ignored, as far as the run can go) after the script cache was
// flushed, and Redis' ACL LOG must show a command of that rule denied.
// TestACLUser shows that the list is enough; this shows that it holds
// nothing the engine does not use. The Cluster-only rules are
// TestCluster's.
func TestEachPrivilegeUsed(t *testing.T) {
	t.Parallel()
	clusterOnly := []string{"+cluster|slots", "+readonly", "+asking"}
	rules := leastPrivileges[1:] // after -@all
	opts := []redistest.Option{redistest.WithPassword("admin-pw")}
	for i := range rules {
		without := slices.Delete(slices.Clone(rules), i, i+1)
		opts = append(opts, redistest.WithACLUser("u"+strconv.Itoa(i), "pw",
			append([]string{"~*", "resetchannels", "-@all"}, without...)...))
	}
	srv := redistest.Start(t, opts...)
	for i, r := range rules {
		if slices.Contains(clusterOnly, r) {
			continue
		}
		t.Run(r, func(t *testing.T) {
			for _, cmd := range [][]string{{"FLUSHDB"}, {"SCRIPT", "FLUSH"}, {"ACL", "LOG", "RESET"}} {
				if err := srv.Do(t, 1, cmd...).Error(); err != nil {
					t.Fatal(err)
				}
			}
			aclOps(srv.URLAs("redis", "u"+strconv.Itoa(i), "pw", 1), func(_ string, err error) bool { return err == nil })
			log, err := srv.Do(t, 0, "ACL", "LOG", "128").ToArray()
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(r, "+")
			var denied []string
			for _, entry := range log {
				m, err := entry.AsMap()
				if err != nil {
					t.Fatal(err)
				}
				o := m["object"]
				obj, _ := o.ToString()
				denied = append(denied, obj)
				if obj == want {
					return
				}
			}
			t.Errorf("nothing the engine ran needed %s (denied: %v): drop it from the list, or cover its use here", r, denied)
		})
	}
}
