package s3

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestBucketRegion: a bare bucket name is AWS's, and its region is asked
// from AWS: us-east-1 first, then cn-north-1 when the keys are unknown
// there, or only AWS_DEFAULT_REGION. A fake in place of AWS answers
// (AWS_ENDPOINT_URL_S3 points the SDK at it).
func TestBucketRegion(t *testing.T) {
	var mu sync.Mutex
	var asked []string // regions of the requests' signatures
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		region := ""
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			if parts := strings.Split(after, "/"); len(parts) > 2 {
				region = parts[2]
			}
		}
		mu.Lock()
		asked = append(asked, region)
		mu.Unlock()
		if _, ok := r.URL.Query()["location"]; !ok {
			http.Error(w, "only GetBucketLocation", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		if region == "us-east-1" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<Error><Code>InvalidAccessKeyId</Code><Message>unknown in this partition</Message></Error>`))
			return
		}
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">cn-northwest-1</LocationConstraint>`))
	}))
	defer fake.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", fake.URL)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_REGION", "")
	cred := Credentials{AccessKey: "ak", SecretKey: "sk"}
	st, err := New(context.Background(), "s3", "mybucket", cred, Options{MaxBackoff: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.loc.region != "cn-northwest-1" || strings.Join(asked, ",") != "us-east-1,cn-north-1" {
		t.Errorf("region %s after asking %q", st.loc.region, asked)
	}
	asked = nil
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
	if _, err := New(context.Background(), "s3", "mybucket", cred, Options{MaxBackoff: 1}); err == nil ||
		!strings.Contains(err.Error(), "find the region of bucket mybucket") || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Errorf("keys unknown in AWS_DEFAULT_REGION: %v (asked %q)", err, asked)
	}
}
