package s3

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// location is where a bucket URL points: what the S3 client needs.
type location struct {
	storage  string // "s3" or "minio"
	endpoint string // base URL of an S3-compatible service; "" for AWS's own endpoints
	bucket   string
	region   string
	// findRegion: the URL named a bare bucket of AWS, whose region is
	// asked from AWS (GetBucketLocation).
	findRegion bool
	pathStyle  bool // path-style requests (endpoint/bucket/key)
	https      bool
	query      url.Values
}

// awsDefaultRegion is the region of AWS buckets whose URL tells none.
const awsDefaultRegion = "us-east-1"

// Region patterns of S3-compatible services whose host names carry their
// region.
var (
	oracleRegion = regexp.MustCompile(`.*\.compat.objectstorage\.(.*)\.oraclecloud\.com`)
	ovhRegion    = regexp.MustCompile(`^s3\.(\w*)(\.\w*)?\.cloud\.ovh\.net$`)
	vpcEndpoint  = regexp.MustCompile(`^.*\.(.*)\.vpce\.amazonaws\.com`)
)

// parseS3 reads a bucket URL of the `s3` storage in every form juicefs
// accepts:
//
//	https://BUCKET.s3.REGION.amazonaws.com[.cn]  AWS, virtual-hosted
//	https://BUCKET.s3-REGION.amazonaws.com
//	https://s3.REGION.amazonaws.com/BUCKET       AWS, bucket in the path
//	https://BUCKET.ID.s3.REGION.vpce.amazonaws.com  an AWS VPC endpoint
//	http[s]://HOST[:PORT]/BUCKET                 S3-compatible service
//	http[s]://BUCKET.HOST[:PORT]                 S3-compatible service
//	BUCKET                                       AWS, region asked from AWS
//
// Without a scheme, https is used for AWS hosts and bare bucket names, http
// for every other host.
func parseS3(raw string) (*location, error) {
	if raw == "" {
		return nil, fmt.Errorf("the bucket URL is empty")
	}
	u := raw
	if !strings.Contains(u, "://") {
		if strings.Contains(u, ".") && !strings.HasSuffix(u, ".amazonaws.com") {
			u = "http://" + u
		} else {
			u = "https://" + u
		}
	}
	uri, err := url.ParseRequestURI(strings.Trim(u, "/"))
	if err != nil || uri.Host == "" {
		return nil, fmt.Errorf("invalid bucket URL %q: want http[s]://HOST/BUCKET, http[s]://BUCKET.HOST or an AWS bucket URL", raw)
	}
	loc := &location{storage: "s3", https: strings.EqualFold(uri.Scheme, "https"), query: uri.Query()}
	if !loc.https && !strings.EqualFold(uri.Scheme, "http") {
		return nil, fmt.Errorf("invalid bucket URL %q: the scheme must be http or https", raw)
	}
	isAWS := strings.Contains(uri.Host, ".amazonaws.com")
	switch hostLabels := strings.SplitN(uri.Host, ".", 2); {
	case uri.Path != "": // [ENDPOINT]/BUCKET
		loc.bucket = strings.Split(uri.Path, "/")[1]
		if isAWS {
			loc.region = awsRegion(uri.Host)
		} else {
			loc.endpoint = uri.Scheme + "://" + uri.Host
		}
	case len(hostLabels) == 1: // a bare AWS bucket name
		loc.bucket, loc.findRegion = uri.Host, true
	case isAWS && vpcEndpoint.MatchString(uri.Host):
		loc.bucket, loc.endpoint = hostLabels[0], uri.Scheme+"://"+hostLabels[1]
		loc.region = vpcEndpoint.FindStringSubmatch(uri.Host)[1]
	case isAWS: // BUCKET.s3[.-]REGION.amazonaws.com
		parts := strings.SplitN(uri.Host, ".s3", 2)
		if len(parts) != 2 {
			return nil, fmt.Errorf("invalid bucket URL %q: an AWS host must be BUCKET.s3.REGION.amazonaws.com", raw)
		}
		loc.bucket, loc.region = parts[0], awsRegion("s3"+parts[1])
	default: // BUCKET.ENDPOINT
		loc.bucket, loc.endpoint = hostLabels[0], uri.Scheme+"://"+hostLabels[1]
		for _, re := range []*regexp.Regexp{oracleRegion, ovhRegion} {
			if m := re.FindStringSubmatch(hostLabels[1]); m != nil {
				loc.region = m[1]
				break
			}
		}
	}
	if loc.bucket == "" {
		return nil, fmt.Errorf("invalid bucket URL %q: no bucket name in it", raw)
	}
	if loc.region == "" {
		loc.region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if loc.region == "" {
		loc.region = awsDefaultRegion
	}
	loc.pathStyle = loc.endpoint != "" && pathStyle()
	return loc, nil
}

// awsRegion reads the region from an AWS endpoint host
// ("s3.eu-west-1.amazonaws.com", "s3-eu-west-1.amazonaws.com",
// "s3.dualstack.eu-west-1.amazonaws.com", "s3.amazonaws.com").
func awsRegion(host string) string {
	if strings.HasPrefix(host, "s3-") || strings.HasPrefix(host, "s3.") {
		host = host[3:]
	}
	host = strings.TrimPrefix(host, "dualstack.")
	if host == "amazonaws.com" {
		return awsDefaultRegion
	}
	region := strings.Split(host, ".")[0]
	if region == "external-1" {
		return awsDefaultRegion
	}
	return region
}

// parseMinio reads a bucket URL of the `minio` storage:
// http[s]://HOST[:PORT]/BUCKET[?region=REGION] (http when no scheme is
// given; a first path element "minio/" is skipped).
func parseMinio(raw string) (*location, error) {
	u := raw
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	uri, err := url.ParseRequestURI(u)
	if err != nil || uri.Host == "" {
		return nil, fmt.Errorf("invalid bucket URL %q: want http[s]://HOST[:PORT]/BUCKET", raw)
	}
	loc := &location{storage: "minio", https: strings.EqualFold(uri.Scheme, "https"), query: uri.Query()}
	if !loc.https && !strings.EqualFold(uri.Scheme, "http") {
		return nil, fmt.Errorf("invalid bucket URL %q: the scheme must be http or https", raw)
	}
	loc.endpoint = uri.Scheme + "://" + uri.Host
	if len(uri.Path) < 2 {
		return nil, fmt.Errorf("invalid bucket URL %q: no bucket name in its path", raw)
	}
	bucket := uri.Path[1:]
	if strings.Contains(bucket, "/") {
		bucket = strings.TrimPrefix(bucket, "minio/")
	}
	loc.bucket = strings.Split(bucket, "/")[0]
	if loc.bucket == "" {
		return nil, fmt.Errorf("invalid bucket URL %q: no bucket name in its path", raw)
	}
	loc.region = uri.Query().Get("region")
	if loc.region == "" {
		loc.region = os.Getenv("MINIO_REGION")
	}
	if loc.region == "" {
		loc.region = awsDefaultRegion
	}
	loc.pathStyle = pathStyle()
	return loc, nil
}

// pathStyle tells whether requests to S3-compatible services name the
// bucket in the path (the default) rather than in the host name
// (JFS_S3_VHOST_STYLE set to anything but "", "0" or "false").
func pathStyle() bool {
	v := os.Getenv("JFS_S3_VHOST_STYLE")
	return v == "" || v == "0" || v == "false"
}

// flag reads a boolean query parameter of the bucket URL; absent is false.
func (l *location) flag(name string) (bool, error) {
	v := l.query.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("bucket URL parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}

// String names the bucket as juicefs logs it: "s3://HOST:PORT/BUCKET/" for
// S3-compatible services, "s3://BUCKET/" for AWS.
func (l *location) String() string {
	if l.endpoint == "" {
		return fmt.Sprintf("%s://%s/", l.storage, l.bucket)
	}
	_, host, _ := strings.Cut(l.endpoint, "://")
	return fmt.Sprintf("%s://%s/%s/", l.storage, host, l.bucket)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
