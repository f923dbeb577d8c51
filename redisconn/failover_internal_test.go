package redisconn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEventMaster: the master name is found in both shapes of Sentinel
// events.
func TestEventMaster(t *testing.T) {
	for msg, want := range map[string]string{
		"master mymaster 127.0.0.1 6379":                                "mymaster",
		"master mymaster 127.0.0.1 6379 #quorum 2/2":                    "mymaster",
		"slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379": "mymaster",
		"sentinel 0123abcd 127.0.0.1 26380 @ other 127.0.0.1 6379":      "other",
		"3": "",
		"":  "",
	} {
		if got := eventMaster(strings.Fields(msg)); got != want {
			t.Errorf("eventMaster(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestFailoverHold: writes wait while a hold is on and go once it is
// released; the generation tells who sent during a hold; the wait is
// bounded.
func TestFailoverHold(t *testing.T) {
	f := newFailover(50 * time.Millisecond)
	gen := f.Gen()
	if err := f.wait(context.Background()); err != nil || f.Changed(gen) {
		t.Fatalf("no hold: %v, changed %v", err, f.Changed(gen))
	}
	f.hold()
	f.hold() // one hold, one generation
	if !f.Changed(gen) || f.Gen() != gen+1 || !f.Held() {
		t.Fatalf("hold: gen %d -> %d, held %v", gen, f.Gen(), f.Held())
	}
	if err := f.wait(context.Background()); !errors.Is(err, ErrFailoverWait) {
		t.Fatalf("wait during a hold: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- f.wait(context.Background()) }()
	f.release()
	if err := <-done; err != nil {
		t.Fatalf("wait released: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.hold()
	if err := f.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	f.release()
}
