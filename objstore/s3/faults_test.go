package s3_test

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/s3"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

// fault is what the proxy does to one request instead of passing it on.
type fault func(w http.ResponseWriter, r *http.Request, next http.Handler)

// faultyProxy stands between the client and the real server and applies
// the faults queued for the next requests, in order.
type faultyProxy struct {
	mu     sync.Mutex
	queue  []fault
	passed int // requests passed on untouched
	seen   int
}

func (p *faultyProxy) then(fs ...fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, fs...)
}

func (p *faultyProxy) counts() (seen, passed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen, p.passed
}

func startProxy(t *testing.T, target string) (*faultyProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(u)
	next.ErrorLog = log.New(io.Discard, "", 0) // the faults make it complain
	p := &faultyProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen++
		var f fault
		if len(p.queue) > 0 {
			f, p.queue = p.queue[0], p.queue[1:]
		} else {
			p.passed++
		}
		p.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		f(w, r, next)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// s3Error answers as S3 does when it refuses a request.
func s3Error(status int, code, msg string) fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
		}
	}
}

// stall answers nothing until the client gives up (the server notices
// that only once the request body is read).
func stall(w http.ResponseWriter, r *http.Request, _ http.Handler) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// cutBody passes the request on but breaks the connection halfway through
// the response body.
func cutBody(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	body := rec.Body.Bytes()
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// drop reads the request and closes the connection without an answer.
func drop(w http.ResponseWriter, r *http.Request, _ http.Handler) {
	_, _ = io.Copy(io.Discard, r.Body)
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

func TestFaults(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.MakeBucket(t)
	proxy, endpoint := startProxy(t, srv.Endpoint)
	ctx := s3test.Context(t)
	// A try's deadline far above a request's time on a loaded machine,
	// except for the stalls, which only a short deadline ends quickly.
	st := open(t, "s3", endpoint+"/"+bucket, testKeys, s3.Options{Attempts: 4, Timeout: 20 * time.Second, MaxBackoff: 10 * time.Millisecond})
	quick := open(t, "s3", endpoint+"/"+bucket, testKeys, s3.Options{Attempts: 4, Timeout: time.Second, MaxBackoff: 10 * time.Millisecond})
	data := storetest.Data(1, 100000)
	if err := st.Put(ctx, "obj", data); err != nil {
		t.Fatal(err)
	}

	// Each fault happens to a get, then to a put, which go through on
	// the next try.
	for _, c := range []struct {
		name     string
		get, put []fault
	}{
		{"throttled", []fault{s3Error(503, "SlowDown", "Please reduce your request rate."), s3Error(503, "SlowDown", "again")}, nil},
		{"too many requests", []fault{s3Error(429, "TooManyRequests", "wait")}, nil},
		{"internal error", []fault{s3Error(500, "InternalError", "oops")}, nil},
		{"stalled", []fault{stall}, nil},
		{"body cut", []fault{cutBody, cutBody}, []fault{drop}},
	} {
		if c.put == nil {
			c.put = c.get
		}
		st := st
		if c.name == "stalled" {
			st = quick
		}
		t.Run(c.name, func(t *testing.T) {
			proxy.then(c.get...)
			seen0, _ := proxy.counts()
			got, err := objstore.ReadAll(ctx, st, "obj", 0, -1)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read after %s: %d bytes, %v", c.name, len(got), err)
			}
			if seen, _ := proxy.counts(); seen-seen0 != len(c.get)+1 {
				t.Errorf("get: %d requests, want %d", seen-seen0, len(c.get)+1)
			}
			proxy.then(c.put...)
			seen0, _ = proxy.counts()
			if err := st.Put(ctx, "obj", data); err != nil {
				t.Errorf("put after %s: %v", c.name, err)
			}
			if seen, _ := proxy.counts(); seen-seen0 != len(c.put)+1 {
				t.Errorf("put: %d requests, want %d", seen-seen0, len(c.put)+1)
			}
		})
	}

	// Throttled for good: the tries run out, and the error says so in one
	// line with the service's reason.
	for range 4 {
		proxy.then(s3Error(503, "SlowDown", "Please reduce your request rate."))
	}
	_, err := objstore.ReadAll(ctx, st, "obj", 0, -1)
	var s3err *s3.Error
	if !errors.As(err, &s3err) || s3err.Tries != 4 || s3err.Code != "SlowDown" ||
		err.Error() != "s3 get "+bucket+"/obj: giving up after 4 tries: SlowDown: Please reduce your request rate. (HTTP 503)" {
		t.Errorf("throttled for good: %v", err)
	}
	// Stalled for good.
	for range 4 {
		proxy.then(stall)
	}
	if _, err := objstore.ReadAll(ctx, quick, "obj", 0, -1); err == nil || !strings.Contains(err.Error(), "giving up after 4 tries: no answer within 1s") {
		t.Errorf("stalled for good: %v", err)
	}
	// Errors that another try cannot mend are not tried again.
	proxy.then(s3Error(403, "AccessDenied", "Access Denied"))
	seen0, _ := proxy.counts()
	if err := st.Put(ctx, "obj", data); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("denied: %v", err)
	}
	if seen, _ := proxy.counts(); seen-seen0 != 1 {
		t.Errorf("a denied request was tried %d times", seen-seen0)
	}
	// A listing whose second page is throttled goes on where it was.
	for i := range 20 {
		if err := st.Put(ctx, "l/"+string(rune('a'+i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	paged := open(t, "s3", endpoint+"/"+bucket, testKeys, s3.Options{PageSize: 6, MaxBackoff: time.Millisecond})
	n := 0
	for _, err := range paged.List(ctx, "l/", "") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 6 {
			proxy.then(s3Error(503, "SlowDown", "slow"))
		}
	}
	if n != 20 {
		t.Errorf("listed %d keys across a throttled page, want 20", n)
	}
}
