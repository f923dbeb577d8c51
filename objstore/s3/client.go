package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/rueidisfs/rueidisfs/internal/smallfile"
)

// newClient builds the SDK client for loc. It finds the region of a bare
// AWS bucket name first.
func newClient(ctx context.Context, loc *location, cred Credentials, r retrier) (*s3.Client, error) {
	httpClient, err := newHTTPClient(loc)
	if err != nil {
		return nil, err
	}
	var loadOpts []func(*config.LoadOptions) error
	// Checksums only where the API requires them, as juicefs asks: many
	// S3-compatible services reject the SDK's newer defaults.
	if os.Getenv("AWS_REQUEST_CHECKSUM_CALCULATION") == "" {
		loadOpts = append(loadOpts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired))
	}
	if os.Getenv("AWS_RESPONSE_CHECKSUM_VALIDATION") == "" {
		loadOpts = append(loadOpts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	switch cred.AccessKey {
	case "":
		// the SDK's default chain
	case "anonymous":
		loadOpts = append(loadOpts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	default:
		loadOpts = append(loadOpts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cred.AccessKey, cred.SecretKey, cred.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	cfg.HTTPClient = httpClient
	noContinue, err := loc.flag("disable-100-continue")
	if err != nil {
		return nil, err
	}
	options := func(o *s3.Options) {
		o.Region = loc.region
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
		o.UsePathStyle = loc.pathStyle
		o.EndpointOptions.DisableHTTPS = !loc.https
		o.Retryer = aws.NopRetryer{}
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(stack)
		})
		if noContinue {
			o.ContinueHeaderThresholdBytes = -1
		}
	}
	if loc.findRegion {
		if loc.region, err = bucketRegion(ctx, cfg, loc.bucket, options, r); err != nil {
			return nil, fmt.Errorf("find the region of bucket %s: %w", loc.bucket, err)
		}
	}
	return s3.NewFromConfig(cfg, options), nil
}

// bucketRegion asks AWS where a bucket lives, from AWS_DEFAULT_REGION or
// else from us-east-1 and cn-north-1 in turn (keys of one partition are
// unknown in the other).
func bucketRegion(ctx context.Context, cfg aws.Config, bucket string, options func(*s3.Options), r retrier) (string, error) {
	regions := []string{awsDefaultRegion, "cn-north-1"}
	if v := os.Getenv("AWS_DEFAULT_REGION"); v != "" {
		regions = []string{v}
	}
	var err error
	for _, region := range regions {
		client := s3.NewFromConfig(cfg, options, func(o *s3.Options) { o.Region = region })
		var out *s3.GetBucketLocationOutput
		err = r.do(ctx, "s3 get bucket location "+bucket, func(ctx context.Context) (err error) {
			out, err = client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &bucket})
			return err
		})
		if err == nil {
			if out.LocationConstraint == "" {
				return awsDefaultRegion, nil
			}
			return string(out.LocationConstraint), nil
		}
		if !isCode(err, "SignatureDoesNotMatch", "InvalidAccessKeyId") {
			break
		}
	}
	return "", err
}

// newHTTPClient is the HTTP client of one bucket, with the timeouts juicefs
// uses and the TLS options of the bucket URL: tls-insecure-skip-verify,
// and ca-certs with ssl-cert and ssl-key for client certificates.
func newHTTPClient(loc *location) (*http.Client, error) {
	tlsConfig := &tls.Config{}
	skip, err := loc.flag("tls-insecure-skip-verify")
	if err != nil {
		return nil, err
	}
	tlsConfig.InsecureSkipVerify = skip
	ca, cert, key := loc.query.Get("ca-certs"), loc.query.Get("ssl-cert"), loc.query.Get("ssl-key")
	switch {
	case ca != "" && cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load the client certificate %s and key %s: %w", cert, key, err)
		}
		pem, err := smallfile.Read(ca, smallfile.Certs)
		if err != nil {
			return nil, fmt.Errorf("load the CA certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", ca)
		}
		tlsConfig.RootCAs, tlsConfig.Certificates = pool, []tls.Certificate{pair}
	case ca != "" || cert != "" || key != "":
		return nil, errors.New("bucket URL parameters ca-certs, ssl-cert and ssl-key go together: give all three")
	case os.Getenv("AWS_CA_BUNDLE") != "":
		// The SDK would apply it to its own HTTP client only.
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := smallfile.Read(os.Getenv("AWS_CA_BUNDLE"), smallfile.Certs)
		if err != nil {
			return nil, fmt.Errorf("load AWS_CA_BUNDLE: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in AWS_CA_BUNDLE=%s", os.Getenv("AWS_CA_BUNDLE"))
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       300 * time.Second,
		MaxIdleConnsPerHost:   500,
		ExpectContinueTimeout: time.Second,
	}}, nil
}
