// Package volstore opens the object storage of a JuiceFS volume as its
// format describes it, stacked in the order the official client stacks
// it: the backend (one bucket, or one per shard), then the "NAME/" prefix,
// then encryption.
package volstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/encrypt"
	"github.com/rueidisfs/rueidisfs/objstore/file"
	"github.com/rueidisfs/rueidisfs/objstore/s3"
	"github.com/rueidisfs/rueidisfs/objstore/shard"
)

// ErrUnsupported is returned by Open for storage types rueidisfs cannot
// reach.
var ErrUnsupported = errors.New("object storage type not supported by rueidisfs")

// Storages are the storage types Open knows.
var Storages = []string{"file", "s3", "minio"}

// Options tune Open; the zero value gives the defaults.
type Options struct {
	// S3 tunes the requests to S3 storages. Its storage class and tag
	// default to those of the volume's tier 0.
	S3 s3.Options
	// Getenv reads JFS_RSA_PASSPHRASE (nil: os.Getenv).
	Getenv func(string) string
}

// Open returns the object storage of the volume described by f, its keys
// relative to the volume's prefix ("chunks/0/0/7_0_1048576"). Secrets of f
// still sealed with the volume's UUID are opened on a copy; the passphrase
// of an encryption key comes from JFS_RSA_PASSPHRASE.
func Open(ctx context.Context, f *codec.Format, opts Options) (objstore.Store, error) {
	format := *f
	if err := format.DecryptSecrets(); err != nil {
		return nil, fmt.Errorf("open the format's secrets: %w", err)
	}
	if format.Bucket == "" {
		return nil, errors.New("the volume's bucket is empty: set it with `config --bucket`")
	}
	cred := s3.Credentials{AccessKey: format.AccessKey, SecretKey: format.SecretKey, SessionToken: format.SessionToken}
	tier := format.EffectiveTiers()[0]
	if opts.S3.StorageClass == "" {
		opts.S3.StorageClass = tier.StorageClass
	}
	if opts.S3.Tag == "" {
		opts.S3.Tag = tier.Tag
	}
	st, err := OpenBuckets(ctx, format.Storage, format.Bucket, format.Shards, cred, opts)
	if err != nil {
		return nil, err
	}
	st = objstore.WithPrefix(st, format.Name+"/")
	if format.EncryptKey == "" {
		return st, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	key, err := encrypt.ParseKey(format.EncryptKey, getenv(encrypt.PassphraseEnv))
	if err != nil {
		return nil, err
	}
	return encrypt.New(st, key, format.EncryptAlgo)
}

// OpenBuckets opens the bucket of a storage type, or with shards > 1 the
// buckets a bucket pattern names (see shard.Buckets), without a volume's
// prefix.
func OpenBuckets(ctx context.Context, storage, bucket string, shards int, cred s3.Credentials, opts Options) (objstore.Store, error) {
	storage = strings.ToLower(storage)
	if shards <= 1 {
		return openBucket(ctx, storage, bucket, cred, opts)
	}
	buckets, err := shard.Buckets(bucket, shards)
	if err != nil {
		return nil, err
	}
	stores := make([]objstore.Store, len(buckets))
	for i, b := range buckets {
		if stores[i], err = openBucket(ctx, storage, b, cred, opts); err != nil {
			return nil, err
		}
	}
	return shard.New(stores), nil
}

// openBucket opens one bucket of a storage type.
func openBucket(ctx context.Context, storage, bucket string, cred s3.Credentials, opts Options) (objstore.Store, error) {
	switch storage {
	case "file":
		return file.New(bucket)
	case "s3", "minio":
		return s3.New(ctx, storage, bucket, cred, opts.S3)
	}
	return nil, fmt.Errorf("storage %q: %w (rueidisfs reaches %s)", storage, ErrUnsupported, strings.Join(Storages, ", "))
}
