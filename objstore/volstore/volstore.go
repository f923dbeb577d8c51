// Package volstore opens the object storage of a JuiceFS volume as its
// format describes it, stacked in the order the official client stacks
// it: the backend, then shards, then the "NAME/" prefix, then encryption.
package volstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

// ErrUnsupported is returned by Open for storage types rueidisfs cannot
// reach.
var ErrUnsupported = errors.New("object storage type not supported by rueidisfs")

// Open returns the object storage of the volume described by f, its keys
// relative to the volume's prefix ("chunks/0/0/7_0_1048576"). The secrets
// of f must have been decrypted.
func Open(f *codec.Format) (objstore.Store, error) {
	if f.Bucket == "" {
		return nil, errors.New("the volume's bucket is empty: set it with `config --bucket`")
	}
	if f.Shards > 1 {
		return nil, fmt.Errorf("%s storage with %d shards: %w", f.Storage, f.Shards, ErrUnsupported)
	}
	backend, err := openBackend(strings.ToLower(f.Storage), f.Bucket)
	if err != nil {
		return nil, err
	}
	return objstore.WithPrefix(backend, f.Name+"/"), nil
}

// openBackend opens one bucket of a storage type.
func openBackend(storage, bucket string) (objstore.Store, error) {
	switch storage {
	case "file":
		return file.New(bucket)
	}
	return nil, fmt.Errorf("storage %q: %w", storage, ErrUnsupported)
}
