package codec

import (
	"encoding/json"
	"maps"
)

// Tier describes one storage tier of a volume (an object storage class and an
// optional object tag). It appears in Format.Tiers.
type Tier struct {
	ID           uint8  `json:"ID"`
	StorageClass string `json:"StorageClass"`
	Tag          string `json:"Tag"`
}

// Format is the volume format stored as JSON in the setting key. Field order,
// names, types and omitempty options are those of JuiceFS 1.4.1, so that
// MarshalSetting reproduces its bytes: the JSON field order follows the
// struct order.
type Format struct {
	Name              string
	UUID              string
	Storage           string
	StorageClass      string `json:",omitempty"`
	Tiers             map[uint8]Tier
	Bucket            string
	AccessKey         string `json:",omitempty"`
	SecretKey         string `json:",omitempty"`
	SessionToken      string `json:",omitempty"`
	BlockSize         int    // KiB
	Compression       string `json:",omitempty"`
	Shards            int    `json:",omitempty"`
	HashPrefix        bool   `json:",omitempty"`
	Capacity          uint64 `json:",omitempty"` // bytes, 0 = unlimited
	Inodes            uint64 `json:",omitempty"` // 0 = unlimited
	EncryptKey        string `json:",omitempty"`
	EncryptAlgo       string `json:",omitempty"`
	KeyEncrypted      bool   `json:",omitempty"`
	UploadLimit       int64  `json:",omitempty"` // Mbps
	DownloadLimit     int64  `json:",omitempty"` // Mbps
	TrashDays         int
	MetaVersion       int    `json:",omitempty"`
	MinClientVersion  string `json:",omitempty"`
	MaxClientVersion  string `json:",omitempty"`
	DirStats          bool   `json:",omitempty"`
	UserGroupQuota    bool   `json:",omitempty"`
	EnableACL         bool
	RangerRestURL     string `json:"RangerRestUrl,omitempty"`
	RangerService     string `json:",omitempty"`
	ChangeLog         bool   `json:",omitempty"`
	ChangeLogMaxAge   int64  `json:",omitempty"` // seconds
	ChangeLogMaxLines int64  `json:",omitempty"`
	KerbConf          string `json:",omitempty"`
}

// MarshalSetting returns the setting value exactly as JuiceFS stores it:
// Go's indented JSON with empty prefix and indent, i.e. a newline after every
// opening bracket and element, `": "` after keys, no leading whitespace, and
// <, >, & escaped as \u003c, \u003e, \u0026.
func (f *Format) MarshalSetting() ([]byte, error) {
	return json.MarshalIndent(f, "", "")
}

// ParseSetting decodes a setting value. Unknown fields are ignored, as JuiceFS
// does. An empty value means the volume is not formatted, which callers
// should check before; here it is corruption like any invalid JSON.
func ParseSetting[B Bytes](b B) (*Format, error) {
	var f Format
	if err := json.Unmarshal([]byte(b), &f); err != nil {
		return nil, &CorruptError{What: "invalid volume format JSON", Err: err}
	}
	return &f, nil
}

// RemovedSecret replaces secrets in the output of status and dump.
const RemovedSecret = "removed"

// WithoutSecrets returns a copy of f in which every non-empty secret
// (SecretKey, SessionToken, EncryptKey) is replaced by "removed", as JuiceFS
// shows a format in status output and metadata dumps. f is not modified.
func (f *Format) WithoutSecrets() *Format {
	c := *f
	c.Tiers = maps.Clone(f.Tiers)
	for _, s := range []*string{&c.SecretKey, &c.SessionToken, &c.EncryptKey} {
		if *s != "" {
			*s = RemovedSecret
		}
	}
	return &c
}

// EffectiveTiers returns the tiers a client uses: Tiers, or, for older
// volumes without it, a single tier 0 with the legacy StorageClass. The
// result is a new map.
func (f *Format) EffectiveTiers() map[uint8]Tier {
	if f.Tiers == nil {
		return map[uint8]Tier{0: {ID: 0, StorageClass: f.StorageClass}}
	}
	return maps.Clone(f.Tiers)
}
