package s3

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseS3(t *testing.T) {
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "JFS_S3_VHOST_STYLE"} {
		t.Setenv(env, "")
	}
	for _, c := range []struct {
		url  string
		want location
		name string
	}{
		{"https://mybucket.s3.us-east-2.amazonaws.com", location{bucket: "mybucket", region: "us-east-2", https: true}, "s3://mybucket/"},
		{"https://mybucket.s3.cn-north-1.amazonaws.com.cn", location{bucket: "mybucket", region: "cn-north-1", https: true}, "s3://mybucket/"},
		{"https://mybucket.s3-eu-west-1.amazonaws.com/", location{bucket: "mybucket", region: "eu-west-1", https: true}, "s3://mybucket/"},
		{"https://mybucket.s3.amazonaws.com", location{bucket: "mybucket", region: "us-east-1", https: true}, "s3://mybucket/"},
		{"https://mybucket.s3-external-1.amazonaws.com", location{bucket: "mybucket", region: "us-east-1", https: true}, "s3://mybucket/"},
		{"https://mybucket.s3.dualstack.ap-south-1.amazonaws.com", location{bucket: "mybucket", region: "ap-south-1", https: true}, "s3://mybucket/"},
		{"mybucket.s3.us-west-2.amazonaws.com", location{bucket: "mybucket", region: "us-west-2", https: true}, "s3://mybucket/"},
		{"https://s3.us-west-2.amazonaws.com/mybucket", location{bucket: "mybucket", region: "us-west-2", https: true}, "s3://mybucket/"},
		{"https://s3.amazonaws.com/mybucket/", location{bucket: "mybucket", region: "us-east-1", https: true}, "s3://mybucket/"},
		{"https://mybucket.bucket.vpce-0a1b2c3d-4e5f6g7h.s3.us-east-1.vpce.amazonaws.com",
			location{bucket: "mybucket", endpoint: "https://bucket.vpce-0a1b2c3d-4e5f6g7h.s3.us-east-1.vpce.amazonaws.com", region: "us-east-1", https: true, pathStyle: true},
			"s3://bucket.vpce-0a1b2c3d-4e5f6g7h.s3.us-east-1.vpce.amazonaws.com/mybucket/"},
		{"http://127.0.0.1:9000/mybucket", location{bucket: "mybucket", endpoint: "http://127.0.0.1:9000", region: "us-east-1", pathStyle: true}, "s3://127.0.0.1:9000/mybucket/"},
		{"127.0.0.1:9000/mybucket/extra/", location{bucket: "mybucket", endpoint: "http://127.0.0.1:9000", region: "us-east-1", pathStyle: true}, "s3://127.0.0.1:9000/mybucket/"},
		{"https://minio.example.com/jfs?disable-checksum=true", location{bucket: "jfs", endpoint: "https://minio.example.com", region: "us-east-1", https: true, pathStyle: true}, "s3://minio.example.com/jfs/"},
		{"http://mybucket.ceph.local:7480", location{bucket: "mybucket", endpoint: "http://ceph.local:7480", region: "us-east-1", pathStyle: true}, "s3://ceph.local:7480/mybucket/"},
		{"https://b.ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com", location{bucket: "b", endpoint: "https://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com", region: "eu-frankfurt-1", https: true, pathStyle: true}, "s3://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com/b/"},
		{"https://b.s3.gra.io.cloud.ovh.net", location{bucket: "b", endpoint: "https://s3.gra.io.cloud.ovh.net", region: "gra", https: true, pathStyle: true}, "s3://s3.gra.io.cloud.ovh.net/b/"},
		{"mybucket", location{bucket: "mybucket", region: "us-east-1", https: true, findRegion: true}, "s3://mybucket/"},
	} {
		got, err := parseS3(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		c.want.storage, c.want.query = "s3", got.query
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.url, *got, c.want)
		}
		if got.String() != c.name {
			t.Errorf("%s: named %s, want %s", c.url, got, c.name)
		}
	}
	if loc, _ := parseS3("https://x.example.com/b?disable-checksum=true"); loc.query.Get("disable-checksum") != "true" {
		t.Error("query parameters lost")
	}
}

func TestParseS3Environment(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "ap-east-1")
	if loc, _ := parseS3("http://127.0.0.1:9000/b"); loc.region != "ap-east-1" {
		t.Errorf("region from AWS_DEFAULT_REGION: %s", loc.region)
	}
	t.Setenv("AWS_REGION", "eu-north-1")
	if loc, _ := parseS3("http://127.0.0.1:9000/b"); loc.region != "eu-north-1" {
		t.Errorf("region from AWS_REGION: %s", loc.region)
	}
	if loc, _ := parseS3("https://b.s3.us-west-1.amazonaws.com"); loc.region != "us-west-1" {
		t.Errorf("the URL's region comes first: %s", loc.region)
	}
	for v, path := range map[string]bool{"": true, "0": true, "false": true, "1": false, "true": false} {
		t.Setenv("JFS_S3_VHOST_STYLE", v)
		if loc, _ := parseS3("http://b.example.com"); loc.pathStyle != path {
			t.Errorf("JFS_S3_VHOST_STYLE=%q: path style %v", v, loc.pathStyle)
		}
		if loc, _ := parseMinio("http://example.com/b"); loc.pathStyle != path {
			t.Errorf("minio, JFS_S3_VHOST_STYLE=%q: path style %v", v, loc.pathStyle)
		}
	}
}

func TestParseMinio(t *testing.T) {
	t.Setenv("MINIO_REGION", "")
	t.Setenv("JFS_S3_VHOST_STYLE", "")
	for _, c := range []struct {
		url  string
		want location
	}{
		{"http://127.0.0.1:9000/mybucket", location{bucket: "mybucket", endpoint: "http://127.0.0.1:9000", region: "us-east-1", pathStyle: true}},
		{"127.0.0.1:9000/mybucket/sub", location{bucket: "mybucket", endpoint: "http://127.0.0.1:9000", region: "us-east-1", pathStyle: true}},
		{"https://play.min.io/minio/mybucket?region=eu-west-3", location{bucket: "mybucket", endpoint: "https://play.min.io", region: "eu-west-3", https: true, pathStyle: true}},
		{"https://play.min.io/minio", location{bucket: "minio", endpoint: "https://play.min.io", region: "us-east-1", https: true, pathStyle: true}},
	} {
		got, err := parseMinio(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		c.want.storage, c.want.query = "minio", got.query
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.url, *got, c.want)
		}
	}
	t.Setenv("MINIO_REGION", "cn-1")
	if loc, _ := parseMinio("http://h/b"); loc.region != "cn-1" {
		t.Errorf("region from MINIO_REGION: %s", loc.region)
	}
}

// TestBadURLs: one line saying what is wrong.
func TestBadURLs(t *testing.T) {
	for _, c := range []struct{ storage, url, says string }{
		{"s3", "", "empty"},
		{"s3", "ftp://host/bucket", "scheme"},
		{"s3", "http://", "invalid bucket URL"},
		{"s3", "http://host:port:x/b", "invalid bucket URL"},
		{"s3", "https://mybucket.amazonaws.com", "BUCKET.s3.REGION.amazonaws.com"},
		{"minio", "http://127.0.0.1:9000", "no bucket name"},
		{"minio", "http://127.0.0.1:9000/", "no bucket name"},
		{"minio", "ftp://h/b", "scheme"},
		{"minio", "http://%zz/b", "invalid bucket URL"},
	} {
		parse := parseS3
		if c.storage == "minio" {
			parse = parseMinio
		}
		_, err := parse(c.url)
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %q: %v, want an error saying %q", c.storage, c.url, err, c.says)
		}
	}
	loc, _ := parseS3("http://h/b?disable-checksum=maybe")
	if _, err := loc.flag("disable-checksum"); err == nil || !strings.Contains(err.Error(), "disable-checksum") {
		t.Errorf("bad flag: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"https://b.s3.us-east-2.amazonaws.com", "http://127.0.0.1:9000/b", "b", "http://b.h:1", "https://s3.amazonaws.com/b", "minio/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, parse := range []func(string) (*location, error){parseS3, parseMinio} {
			loc, err := parse(raw)
			if err != nil {
				continue
			}
			if loc.bucket == "" || loc.region == "" || strings.Contains(loc.bucket, "/") {
				t.Errorf("%q parsed as %+v", raw, loc)
			}
			_ = loc.String()
		}
	})
}
