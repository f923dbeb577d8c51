// Package s3 is the `s3` and `minio` object storage: a bucket of AWS S3 or
// of any S3-compatible service, reached with the AWS SDK as the official
// client reaches it (SigV4 with an unsigned payload, path-style requests to
// S3-compatible services, a CRC-32C of every object in its user metadata).
//
// Every request is tried again on errors the SDK classes as transient
// (throttling, 5xx, broken connections) and on timeouts, with exponential
// backoff and jitter, up to Options.Attempts times; each try has its own
// deadline. An object is read whole (or its range) within one try, so that
// a connection lost in the middle of a body is tried again too.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"iter"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Options tune the client; zero values take the defaults.
type Options struct {
	// Attempts is how many times a request is tried (default 8).
	Attempts int
	// Timeout bounds one try of a request, its body included (default 60 s);
	// PutTimeout, when set, bounds the tries of uploads instead.
	Timeout, PutTimeout time.Duration
	// MaxBackoff bounds the wait between two tries (default 10 s).
	MaxBackoff time.Duration
	// PageSize is how many keys one listing request asks for (default and
	// most 1000).
	PageSize int32
	// StorageClass and Tag ("key=value") are given to every object put
	// (none: the bucket's defaults), as a volume's tier 0 asks.
	StorageClass, Tag string
}

func (o *Options) setDefaults() {
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.PutTimeout <= 0 {
		o.PutTimeout = o.Timeout
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.PageSize <= 0 || o.PageSize > 1000 {
		o.PageSize = 1000
	}
}

// Credentials are a volume's keys for its storage. An empty AccessKey
// means the AWS SDK's default chain (environment, shared files, web
// identity, instance metadata); "anonymous" means unsigned requests.
type Credentials struct {
	AccessKey, SecretKey, SessionToken string
}

// Store is one bucket.
type Store struct {
	client *s3.Client
	loc    *location
	opts   Options
	retry  retrier
	// checksum: objects are written with their CRC-32C and verified with
	// it when read whole (off with disable-checksum=true on `s3`).
	checksum bool
}

var (
	_ objstore.Store   = (*Store)(nil)
	_ objstore.Creator = (*Store)(nil)
)

// New opens a bucket of storage ("s3" or "minio") named by a bucket URL
// (see parseS3 and parseMinio for the forms).
func New(ctx context.Context, storage, bucketURL string, cred Credentials, opts Options) (*Store, error) {
	var loc *location
	var err error
	switch storage {
	case "s3":
		loc, err = parseS3(bucketURL)
	case "minio":
		loc, err = parseMinio(bucketURL)
		if cred.AccessKey == "" {
			cred.AccessKey, cred.SecretKey = firstEnv("MINIO_ACCESS_KEY"), firstEnv("MINIO_SECRET_KEY")
		}
	default:
		return nil, fmt.Errorf("storage %q is not an S3 storage", storage)
	}
	if err != nil {
		return nil, err
	}
	opts.setDefaults()
	s := &Store{loc: loc, opts: opts, retry: newRetrier(opts)}
	noChecksum, err := loc.flag("disable-checksum")
	if err != nil {
		return nil, err
	}
	s.checksum = storage == "minio" || !noChecksum
	if s.client, err = newClient(ctx, loc, cred, s.retry); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	return s, nil
}

// String names the bucket as juicefs logs it.
func (s *Store) String() string { return s.loc.String() }

// op names a request in errors: "s3 get mybucket/key".
func (s *Store) op(verb, key string) string {
	return fmt.Sprintf("%s %s %s/%s", s.loc.storage, verb, s.loc.bucket, key)
}

// Get reads the range within one try; a whole object is checked against
// the CRC-32C it was written with, when it has one.
func (s *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	if err := objstore.CheckKey(key); err != nil {
		return nil, err
	}
	if limit == 0 { // no request can ask for nothing; still say if it is missing
		if _, err := s.Head(ctx, key); err != nil {
			return nil, err
		}
		return objstore.Range(nil, 0, 0), nil
	}
	in := &s3.GetObjectInput{Bucket: &s.loc.bucket, Key: &key}
	switch {
	case limit > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+limit-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	var data []byte
	err := s.retry.do(ctx, s.op("get", key), func(ctx context.Context) error {
		out, err := s.client.GetObject(ctx, in)
		if isCode(err, "InvalidRange") {
			data = nil // the range starts at or beyond the end
			return nil
		}
		if err != nil {
			return err
		}
		defer out.Body.Close()
		size := aws.ToInt64(out.ContentLength)
		if size < 0 || size > 1<<30 {
			size = 0
		}
		// Room for the whole body and the final read that finds its end.
		buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
		if _, err := buf.ReadFrom(out.Body); err != nil {
			return &bodyError{err}
		}
		data = buf.Bytes()
		if in.Range == nil && s.checksum {
			return verifyCRC(data, out.Metadata)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objstore.Range(data, 0, -1), nil
}

// crcKey is the user metadata holding an object's CRC-32C (header
// x-amz-meta-crc32c), an unsigned decimal number.
const crcKey = "Crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcOf(data []byte) string {
	return strconv.FormatUint(uint64(crc32.Checksum(data, castagnoli)), 10)
}

func verifyCRC(data []byte, meta map[string]string) error {
	want, ok := meta[strings.ToLower(crcKey)]
	if !ok {
		want, ok = meta[crcKey]
	}
	if !ok || want == "" {
		return nil // written by a client that does not record it
	}
	if got := crcOf(data); got != want {
		return fmt.Errorf("%w: CRC-32C of the %d bytes read is %s, the object was written with %s", objstore.ErrCorrupt, len(data), got, want)
	}
	return nil
}

// Put uploads data with its CRC-32C in the user metadata.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	contentType := mime.TypeByExtension(path.Ext(key))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	in := &s3.PutObjectInput{
		Bucket:        &s.loc.bucket,
		Key:           &key,
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   &contentType,
	}
	if s.checksum {
		in.Metadata = map[string]string{crcKey: crcOf(data)}
	}
	if s.opts.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.opts.StorageClass)
	}
	if k, v, ok := strings.Cut(s.opts.Tag, "="); ok && k != "" && v != "" && !strings.Contains(v, "=") {
		in.Tagging = aws.String(url.QueryEscape(k) + "=" + url.QueryEscape(v))
	}
	return s.retry.withTimeout(s.opts.PutTimeout).do(ctx, s.op("put", key), func(ctx context.Context) error {
		in.Body = bytes.NewReader(data)
		_, err := s.client.PutObject(ctx, in)
		return err
	})
}

// Head describes an object.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	if err := objstore.CheckKey(key); err != nil {
		return objstore.Object{}, err
	}
	var o objstore.Object
	err := s.retry.do(ctx, s.op("head", key), func(ctx context.Context) error {
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.bucket, Key: &key})
		if err != nil {
			return err
		}
		o = objstore.Object{Key: key, Size: aws.ToInt64(out.ContentLength), Mtime: aws.ToTime(out.LastModified),
			StorageClass: string(out.StorageClass)}
		if o.StorageClass == "" {
			o.StorageClass = string(types.StorageClassStandard) // S3 names no default class
		}
		return nil
	})
	return o, err
}

// Delete removes an object; S3 answers a missing one as a deleted one.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	err := s.retry.do(ctx, s.op("delete", key), func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.loc.bucket, Key: &key})
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// List asks for one page of keys at a time (ListObjectsV2, keys
// URL-encoded so that any byte survives the XML).
func (s *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		in := &s3.ListObjectsV2Input{
			Bucket:       &s.loc.bucket,
			Prefix:       &prefix,
			MaxKeys:      &s.opts.PageSize,
			EncodingType: types.EncodingTypeUrl,
		}
		if startAfter != "" {
			in.StartAfter = &startAfter
		}
		last := startAfter
		for {
			var page *s3.ListObjectsV2Output
			err := s.retry.do(ctx, s.op("list", prefix), func(ctx context.Context) (err error) {
				page, err = s.client.ListObjectsV2(ctx, in)
				return err
			})
			if err != nil {
				yield(objstore.Object{}, err)
				return
			}
			for _, c := range page.Contents {
				key, err := s.listedKey(aws.ToString(c.Key), page.EncodingType, prefix, last)
				if err != nil {
					yield(objstore.Object{}, err)
					return
				}
				last = key
				if !yield(objstore.Object{Key: key, Size: aws.ToInt64(c.Size), Mtime: aws.ToTime(c.LastModified)}, nil) {
					return
				}
			}
			if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
				return
			}
			in.ContinuationToken = page.NextContinuationToken
		}
	}
}

// listedKey decodes a key of a listing and checks that it belongs there:
// a service that ignores the prefix or the order would make gc see wrong
// objects.
func (s *Store) listedKey(raw string, enc types.EncodingType, prefix, last string) (string, error) {
	key := raw
	if enc == types.EncodingTypeUrl {
		var err error
		if key, err = url.QueryUnescape(raw); err != nil {
			return "", fmt.Errorf("%s: undecodable key %q in the listing: %w", s.op("list", prefix), raw, err)
		}
	}
	if !strings.HasPrefix(key, prefix) || key <= last {
		return "", fmt.Errorf("%s: the service listed %q after %q: not in order or not under the prefix", s.op("list", prefix), key, last)
	}
	return key, nil
}

// Create creates the bucket unless it exists.
func (s *Store) Create(ctx context.Context) error {
	err := s.retry.do(ctx, fmt.Sprintf("%s head bucket %s", s.loc.storage, s.loc.bucket), func(ctx context.Context) error {
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.loc.bucket})
		return err
	})
	if err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: &s.loc.bucket}
	if s.loc.region != awsDefaultRegion { // AWS rejects its default region as a constraint
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.loc.region)}
	}
	return s.retry.do(ctx, fmt.Sprintf("%s create bucket %s", s.loc.storage, s.loc.bucket), func(ctx context.Context) error {
		_, err := s.client.CreateBucket(ctx, in)
		if isCode(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
			return nil
		}
		return err
	})
}
