package voltest

import (
	"errors"
	"testing"
	"time"
)

// Eventually polls cond until it returns nil and returns how long that
// took, failing the test with cond's last error after timeout. It is for
// what another client (or Redis' invalidations) changes, which the test
// cannot wait for otherwise; what depends only on time uses a Clock.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Holds turns a condition that holds or not into one for Eventually.
func Holds(cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}
}

var errNotYet = errors.New("not yet")
