package cli

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
)

// resolveThroughConfig reaches the volume of a rueidisfs mount for the
// tools given a path inside it: the mount's .config names its META-URL
// (with the password left out) and the sub-directory it mounts.
func resolveThroughConfig(_ context.Context, m mountedPath) (metaURL, inVolume string, err error) {
	var b []byte
	for _, name := range []string{".jfs.config", ".config"} {
		if b, err = os.ReadFile(filepath.Join(m.mountPoint, name)); err == nil {
			break
		}
	}
	var conf struct {
		MetaURL string
		Meta    struct{ Subdir string }
	}
	if err != nil || json.Unmarshal(b, &conf) != nil || conf.MetaURL == "" {
		return "", "", errNoMountAccess
	}
	return conf.MetaURL, path.Join("/", conf.Meta.Subdir, m.rel), nil
}
